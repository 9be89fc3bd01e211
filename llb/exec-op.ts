import { create } from '@bufbuild/protobuf';
import {
  CacheOptSchema,
  CacheSharingOpt,
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
  type Input,
  type Mount as PbMount,
} from '../proto/gen/pb/ops_pb.js';
import { LlbBuildError } from './errors.js';
import {
  args as argsModifier,
  envAddOrReplace,
  envGet,
  envSetDefault,
  metaKeys,
  type HostIP,
  type NetworkMode,
  type SecurityMode,
  type StateModifier,
  type Ulimit,
} from './meta.js';
import { State } from './state.js';
import {
  opEnvelope,
  vertexConstraints,
  type MarshalContext,
  type MarshalledVertex,
  type Output,
  type Vertex,
  type VertexConstraints,
  type VertexOptions,
} from './vertex.js';

/** A mount of `run()`; `dest` is the path inside the container. */
export type RunMount =
  | {
      /** A bind of another state's filesystem; writable (and an output) unless `readonly`. */
      readonly type?: 'bind';
      readonly dest: string;
      readonly source: State;
      readonly selector?: string;
      readonly readonly?: boolean;
      /** Writable but discarded after the run (BuildKit's ForceNoOutput). */
      readonly noOutput?: boolean;
    }
  | {
      /** A persistent cache directory, optionally seeded from `source`. */
      readonly type: 'cache';
      readonly dest: string;
      readonly id: string;
      readonly sharing?: 'shared' | 'private' | 'locked';
      readonly source?: State;
      readonly selector?: string;
    }
  | { readonly type: 'tmpfs'; readonly dest: string; readonly size?: number }
  | {
      /** A secret file from the client's session; `id` defaults to `dest`, mode to 0o400. */
      readonly type: 'secret';
      readonly dest: string;
      readonly id?: string;
      readonly uid?: number;
      readonly gid?: number;
      readonly mode?: number;
      readonly optional?: boolean;
    }
  | {
      /** An SSH agent socket; `dest` defaults to `/run/buildkit/ssh_agent.<n>`, mode to 0o600. */
      readonly type: 'ssh';
      readonly dest?: string;
      readonly id?: string;
      readonly uid?: number;
      readonly gid?: number;
      readonly mode?: number;
      readonly optional?: boolean;
    };

export interface ProxyEnv {
  readonly httpProxy?: string;
  readonly httpsProxy?: string;
  readonly ftpProxy?: string;
  readonly noProxy?: string;
  readonly allProxy?: string;
}

/**
 * Options of `state.run()`. The state-like ones (env, cwd, user, …) apply to this process only,
 * after `with` and in the order listed here; the resulting state keeps the original metadata.
 */
export interface RunOptions extends VertexOptions {
  readonly args?: readonly string[];
  /** Shorthand for `args: ['/bin/sh', '-c', shell]`. */
  readonly shell?: string;
  readonly with?: readonly StateModifier[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly network?: NetworkMode;
  readonly security?: SecurityMode;
  readonly extraHosts?: readonly HostIP[];
  readonly ulimits?: readonly Ulimit[];
  readonly cgroupParent?: string;
  readonly mounts?: readonly RunMount[];
  /** Secrets exposed as environment variables (`name`); `id` defaults to `name`. */
  readonly secretEnv?: readonly {
    readonly name: string;
    readonly id?: string;
    readonly optional?: boolean;
  }[];
  readonly readonlyRootfs?: boolean;
  readonly proxyEnv?: ProxyEnv;
  /** Exit codes counted as success (default: 0 only). Needs cap `exec.validexitcode`. */
  readonly validExitCodes?: readonly number[];
}

interface FsMount {
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

interface SecretSpec {
  readonly id: string;
  readonly target: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly optional: boolean;
}

const sharingValues = {
  shared: CacheSharingOpt.SHARED,
  private: CacheSharingOpt.PRIVATE,
  locked: CacheSharingOpt.LOCKED,
} as const;
const netValues = { sandbox: NetMode.UNSET, host: NetMode.HOST, none: NetMode.NONE } as const;
const securityValues = { sandbox: PbSecurityMode.SANDBOX, insecure: PbSecurityMode.INSECURE } as const;
const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const defaultWindowsPath = 'c:\\Windows\\System32;c:\\Windows';

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The result of `state.run()`: the root filesystem after the run and the other mounts' outputs. */
export class ExecState {
  constructor(
    private readonly rootState: State,
    private readonly mountOutputs: ReadonlyMap<string, Output | undefined>,
  ) {}

  /** The state after the run: the root mount's output with the original state's metadata. */
  root(): State {
    return this.rootState;
  }

  /**
   * The output of the mount at `dest` as a new state (a read-only bind yields its source). Reading
   * a tmpfs, cache or no-output mount fails when the graph is marshalled; an unknown `dest` throws.
   */
  getMount(dest: string): State {
    if (!this.mountOutputs.has(dest)) {
      throw new LlbBuildError({ message: `run has no filesystem mount at ${JSON.stringify(dest)}` });
    }
    return State.fromOutput(this.mountOutputs.get(dest));
  }
}

class ExecVertex implements Vertex {
  readonly kind = 'exec' as const;
  readonly outputs = new Map<FsMount, Output | undefined>();

  constructor(
    private readonly base: State,
    private readonly mounts: readonly FsMount[],
    private readonly secrets: readonly SecretSpec[],
    private readonly secretEnv: readonly { name: string; id: string; optional: boolean }[],
    private readonly ssh: readonly SecretSpec[],
    private readonly options: RunOptions,
    private readonly constraints: VertexConstraints,
  ) {
    let next = 0;
    const platform = constraints.platform;
    for (const m of mounts) {
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

function processState(state: State, o: RunOptions): State {
  let s = state.with(...(o.with ?? []));
  for (const [k, v] of Object.entries(o.env ?? {})) s = s.addEnv(k, v);
  if (o.cwd !== undefined) s = s.dir(o.cwd);
  if (o.user !== undefined) s = s.user(o.user);
  if (o.hostname !== undefined) s = s.hostname(o.hostname);
  if (o.network !== undefined) s = s.network(o.network);
  if (o.security !== undefined) s = s.security(o.security);
  for (const h of o.extraHosts ?? []) s = s.extraHost(h.host, h.ip);
  for (const u of o.ulimits ?? []) s = s.ulimit(u.name, u.soft, u.hard);
  if (o.cgroupParent !== undefined) s = s.cgroupParent(o.cgroupParent);
  if (o.shell !== undefined) s = argsModifier(['/bin/sh', '-c', o.shell])(s);
  if (o.args !== undefined) s = argsModifier(o.args)(s);
  return s;
}

/** `state.run(options)`: see RunOptions. Errors (no args, no cwd) surface at marshal. */
export function runExec(state: State, options: RunOptions): ExecState {
  const fs: FsMount[] = [
    {
      dest: '/',
      source: state.output,
      readonly: options.readonlyRootfs === true,
      selector: '',
      cacheId: '',
      sharing: CacheSharingOpt.SHARED,
      tmpfs: false,
      tmpfsSize: 0,
      noOutput: false,
    },
  ];
  const secrets: SecretSpec[] = [];
  const ssh: SecretSpec[] = [];
  for (const m of options.mounts ?? []) {
    if (m.type === 'secret') {
      secrets.push({
        id: m.id ?? m.dest,
        target: m.dest,
        uid: m.uid ?? 0,
        gid: m.gid ?? 0,
        mode: m.mode ?? 0o400,
        optional: m.optional === true,
      });
    } else if (m.type === 'ssh') {
      ssh.push({
        id: m.id ?? '',
        target: m.dest ?? `/run/buildkit/ssh_agent.${ssh.length}`,
        uid: m.uid ?? 0,
        gid: m.gid ?? 0,
        mode: m.mode ?? 0o600,
        optional: m.optional === true,
      });
    } else {
      fs.push({
        dest: m.dest,
        source: m.type === 'tmpfs' ? undefined : m.source?.output,
        readonly: m.type === undefined || m.type === 'bind' ? m.readonly === true : false,
        selector: m.type === 'tmpfs' ? '' : (m.selector ?? ''),
        cacheId: m.type === 'cache' ? m.id : '',
        sharing: m.type === 'cache' ? sharingValues[m.sharing ?? 'shared'] : CacheSharingOpt.SHARED,
        tmpfs: m.type === 'tmpfs',
        tmpfsSize: m.type === 'tmpfs' ? (m.size ?? 0) : 0,
        noOutput: (m.type === undefined || m.type === 'bind') && m.noOutput === true,
      });
    }
  }
  fs.sort((a, b) => byteCompare(a.dest, b.dest));
  const secretEnv = (options.secretEnv ?? []).map((s) => ({
    name: s.name,
    id: s.id ?? s.name,
    optional: s.optional === true,
  }));
  const vertex = new ExecVertex(
    processState(state, options),
    fs,
    secrets,
    secretEnv,
    ssh,
    options,
    vertexConstraints(options),
  );
  const byDest = new Map<string, Output | undefined>();
  let root: Output | undefined;
  for (const [m, out] of vertex.outputs) {
    if (m.dest === '/') root = out;
    byDest.set(m.dest, out);
  }
  return new ExecState(state.withOutput(root), byDest);
}
