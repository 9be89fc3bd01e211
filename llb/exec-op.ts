import { create } from '@bufbuild/protobuf';
import {
  CacheOptSchema,
  ExecOpSchema,
  HostIPSchema,
  InputSchema,
  MetaSchema,
  MountSchema,
  MountType,
  NetMode,
  OpSchema,
  ProxyEnvSchema,
  SSHOptSchema,
  SecretEnvSchema,
  SecretOptSchema,
  SecurityMode as PbSecurityMode,
  TmpfsOptSchema,
  UlimitSchema,
  type CacheSharingOpt,
  type Input,
  type Mount as PbMount,
} from '../proto/gen/pb/ops_pb.js';
import { LlbBuildError } from './errors.js';
import { envAddOrReplace, envGet, envSetDefault, metaKeys } from './meta.js';
import type { RunOptions } from './run.js';
import type { State } from './state.js';
import {
  opEnvelope,
  type MarshalContext,
  type MarshalledVertex,
  type Output,
  type Vertex,
  type VertexConstraints,
} from './vertex.js';

// The ExecOp vertex: mounts already normalised and sorted by run.ts, marshalled as BuildKit's Go
// client does (caps, default PATH, SSH_AUTH_SOCK, input de-duplication, output numbering).

export interface FsMount {
  readonly dest: string;
  readonly source: Output | undefined;
  readonly readonly: boolean;
  readonly selector: string;
  readonly cacheId: string;
  readonly sharing: CacheSharingOpt;
  readonly tmpfs: boolean;
  readonly tmpfsSize: number;
  readonly noOutput: boolean;
}

export interface SecretSpec {
  readonly id: string;
  readonly target: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly optional: boolean;
}

export interface SecretEnvSpec {
  readonly name: string;
  readonly id: string;
  readonly optional: boolean;
}

const netValues = { sandbox: NetMode.UNSET, host: NetMode.HOST, none: NetMode.NONE } as const;
const securityValues = { sandbox: PbSecurityMode.SANDBOX, insecure: PbSecurityMode.INSECURE } as const;
const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const defaultWindowsPath = 'c:\\Windows\\System32;c:\\Windows';

export class ExecVertex implements Vertex {
  readonly kind = 'exec' as const;
  readonly outputs = new Map<FsMount, Output | undefined>();

  private readonly base: State;
  private readonly mounts: readonly FsMount[];
  private readonly secrets: readonly SecretSpec[];
  private readonly secretEnv: readonly SecretEnvSpec[];
  private readonly ssh: readonly SecretSpec[];
  private readonly options: RunOptions;
  private readonly constraints: VertexConstraints;

  /** `base` is the state the process sees (run options applied); `mounts` are sorted by dest. */
  constructor(init: {
    base: State;
    mounts: readonly FsMount[];
    secrets: readonly SecretSpec[];
    secretEnv: readonly SecretEnvSpec[];
    ssh: readonly SecretSpec[];
    options: RunOptions;
    constraints: VertexConstraints;
  }) {
    this.base = init.base;
    this.mounts = init.mounts;
    this.secrets = init.secrets;
    this.secretEnv = init.secretEnv;
    this.ssh = init.ssh;
    this.options = init.options;
    this.constraints = init.constraints;
    let next = 0;
    const platform = this.constraints.platform;
    for (const m of this.mounts) {
      if (m.readonly) this.outputs.set(m, m.source);
      else if (m.tmpfs)
        this.outputs.set(m, this.broken(`tmpfs mount for ${m.dest} can't be used as a parent`));
      else if (m.noOutput)
        this.outputs.set(m, this.broken(`mount marked no-output and ${m.dest} can't be used as a parent`));
      else if (m.cacheId !== '') this.outputs.set(m, this.broken(`cache mount ${m.dest} has no output`));
      else this.outputs.set(m, { vertex: this, index: next++, ...(platform ? { platform } : {}) });
    }
  }

  private broken(error: string): Output {
    return { vertex: this, index: -1, error };
  }

  inputs(): readonly Output[] {
    const seen = new Set<Output>();
    return this.mounts.flatMap((m) =>
      m.source && !seen.has(m.source) ? (seen.add(m.source), [m.source]) : [],
    );
  }

  marshal(ctx: MarshalContext): MarshalledVertex {
    const base = this.base;
    const argv = base.value(metaKeys.args);
    if (!argv || argv.length === 0)
      throw new LlbBuildError({ message: 'arguments are required', vertex: 'exec' });
    const cwd = base.value(metaKeys.dir);
    if (cwd === '') throw new LlbBuildError({ message: 'working directory is required', vertex: 'exec' });
    const caps = new Set<string>();
    let env = base.value(metaKeys.env);
    const firstSsh = this.ssh[0];
    if (firstSsh && envGet(env, 'SSH_AUTH_SOCK') === undefined) {
      env = envAddOrReplace(env, 'SSH_AUTH_SOCK', firstSsh.target);
    }
    if (ctx.caps) {
      if (ctx.caps.has('exec.meta.setsdefaultpath')) caps.add('exec.meta.setsdefaultpath');
      else env = envSetDefault(env, 'PATH', ctx.platform.os === 'windows' ? defaultWindowsPath : defaultPath);
    }
    const ulimits = base.value(metaKeys.ulimits);
    if (ulimits.length > 0) caps.add('exec.meta.ulimit');
    const validExitCodes = this.options.validExitCodes;
    if (validExitCodes) caps.add('exec.validexitcode');
    const net = base.value(metaKeys.network);
    const sec = base.value(metaKeys.security);
    if (net !== 'sandbox') caps.add('exec.meta.network');
    if (sec !== 'sandbox') caps.add('exec.meta.security');
    const proxy = this.options.proxyEnv;
    if (proxy) caps.add('exec.meta.proxyenv');
    caps.add('exec.meta.base');
    for (const m of this.mounts) {
      if (m.selector !== '') caps.add('exec.mount.selector');
      if (m.cacheId !== '') {
        caps.add('exec.mount.cache');
        caps.add('exec.mount.cache.sharing');
      } else if (m.tmpfs) {
        caps.add('exec.mount.tmpfs');
        if (m.tmpfsSize > 0) caps.add('exec.mount.tmpfs.size');
      } else if (m.source) caps.add('exec.mount.bind');
    }
    if (this.secrets.length + this.secretEnv.length > 0) caps.add('exec.mount.secret');
    if (this.secretEnv.length > 0) caps.add('exec.secretenv');
    if (this.ssh.length > 0) caps.add('exec.mount.ssh');

    const platform = this.constraints.platform ?? base.value(metaKeys.platform);
    const envelope = opEnvelope(ctx, { ...this.constraints, platform }, caps);
    const meta = create(MetaSchema, {
      args: [...argv],
      env: env.map(([k, v]) => `${k}=${v}`),
      cwd,
      user: base.value(metaKeys.user),
      hostname: base.value(metaKeys.hostname),
      cgroupParent: base.value(metaKeys.cgroupParent),
      removeMountStubsRecursive: true,
      extraHosts: base
        .value(metaKeys.extraHosts)
        .map((h) => create(HostIPSchema, { Host: h.host, IP: h.ip })),
      ulimit: ulimits.map((u) =>
        create(UlimitSchema, { Name: u.name, Soft: BigInt(u.soft), Hard: BigInt(u.hard) }),
      ),
      validExitCodes: [...(validExitCodes ?? [])],
      ...(proxy ? { proxyEnv: create(ProxyEnvSchema, proxy) } : {}),
    });
    const inputs: Input[] = [];
    const mounts: PbMount[] = [];
    let outIndex = 0;
    for (const m of this.mounts) {
      let input = -1;
      if (m.source) {
        const ref = ctx.input(m.source);
        input = inputs.findIndex((i) => i.digest === ref.digest && i.index === BigInt(ref.index));
        if (input < 0) {
          input = inputs.length;
          inputs.push(create(InputSchema, { digest: ref.digest, index: BigInt(ref.index) }));
        }
      }
      const writes = !m.noOutput && !m.readonly && m.cacheId === '' && !m.tmpfs;
      mounts.push(
        create(MountSchema, {
          input: BigInt(input),
          dest: m.dest,
          readonly: m.readonly,
          output: BigInt(writes ? outIndex++ : -1),
          selector: m.selector,
          ...(m.cacheId !== ''
            ? {
                mountType: MountType.CACHE,
                cacheOpt: create(CacheOptSchema, { ID: m.cacheId, sharing: m.sharing }),
              }
            : {}),
          ...(m.tmpfs
            ? { mountType: MountType.TMPFS, TmpfsOpt: create(TmpfsOptSchema, { size: BigInt(m.tmpfsSize) }) }
            : {}),
        }),
      );
    }
    for (const s of this.secrets) {
      mounts.push(
        create(MountSchema, {
          dest: s.target,
          mountType: MountType.SECRET,
          secretOpt: create(SecretOptSchema, {
            ID: s.id,
            uid: s.uid,
            gid: s.gid,
            mode: s.mode,
            optional: s.optional,
          }),
        }),
      );
    }
    for (const s of this.ssh) {
      mounts.push(
        create(MountSchema, {
          dest: s.target,
          mountType: MountType.SSH,
          SSHOpt: create(SSHOptSchema, {
            ID: s.id,
            uid: s.uid,
            gid: s.gid,
            mode: s.mode,
            optional: s.optional,
          }),
        }),
      );
    }
    const exec = create(ExecOpSchema, {
      meta,
      mounts,
      network: netValues[net],
      security: securityValues[sec],
      secretenv: this.secretEnv.map((s) =>
        create(SecretEnvSchema, { ID: s.id, name: s.name, optional: s.optional }),
      ),
    });
    return {
      op: create(OpSchema, {
        inputs,
        op: { case: 'exec', value: exec },
        platform: envelope.platform,
        constraints: envelope.constraints,
      }),
      metadata: envelope.metadata,
      sourceLocations: this.constraints.sourceLocations,
    };
  }
}
