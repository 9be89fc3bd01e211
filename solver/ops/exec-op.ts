import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { resolveInRoot, type ExecMount, type Executor } from '../../executor/index.js';
import type { Platform } from '../../oci/index.js';
import {
  CacheSharingOpt,
  MountType,
  NetMode,
  SecurityMode,
  type ExecOp,
  type Mount as LlbMount,
  type ProxyEnv,
} from '../../proto/gen/pb/ops_pb.js';
import type { Mount } from '../../snapshotter/index.js';
import { forwardSSHAgent, getSecret, type SessionManager } from '../../session/index.js';
import type { CacheMounts, CacheSharing } from '../cache-mounts.js';
import { SolveRequestError } from '../errors.js';
import { newId } from '../job.js';
import type { LlbOpView } from '../llb-view.js';
import type { CacheMap, OpContext, ResultRef, SolverOp } from '../op.js';
import { execCacheMap } from './exec-cache-map.js';
import type { OpSnapshots } from './snapshots.js';
import { StepOutput } from './step-output.js';

const run = promisify(execFile);

/** Copies a tree's contents (modes, owners, links) into an existing directory, the directory's own metadata included. */
async function copyTree(source: string, dest: string): Promise<void> {
  await run('cp', ['-a', '--reflink=auto', `${source}/.`, `${dest}/`]);
}

export interface ExecOpDeps {
  readonly snapshots: OpSnapshots;
  readonly executor: Executor;
  readonly cacheMounts: CacheMounts;
  readonly sessions: SessionManager;
  /** The daemon's network for steps that ask for the default (`sandbox`). */
  readonly defaultNetwork: 'host' | 'none';
  readonly logger?: Logger;
}

/** Everything a run set up that must be undone afterwards, in reverse order. */
type Cleanup = () => Promise<void> | void;

const sharingOf: Record<CacheSharingOpt, CacheSharing> = {
  [CacheSharingOpt.SHARED]: 'shared',
  [CacheSharingOpt.PRIVATE]: 'private',
  [CacheSharingOpt.LOCKED]: 'locked',
};

/**
 * The proxy settings of a step as environment variables, both spellings as BuildKit sets them.
 * They are kept out of the cache key (see exec-cache-map.ts), so changing a proxy never rebuilds.
 */
function proxyEnv(proxy: ProxyEnv | undefined): string[] {
  if (!proxy) return [];
  const pairs: Array<[string, string]> = [
    ['HTTP_PROXY', proxy.httpProxy],
    ['HTTPS_PROXY', proxy.httpsProxy],
    ['FTP_PROXY', proxy.ftpProxy],
    ['NO_PROXY', proxy.noProxy],
    ['ALL_PROXY', proxy.allProxy],
  ];
  return pairs.filter(([, v]) => v).flatMap(([k, v]) => [`${k}=${v}`, `${k.toLowerCase()}=${v}`]);
}

/** Runs an ExecOp: prepares its mounts from input snapshots, runs the process, commits outputs. */
export class ExecOpImpl implements SolverOp {
  readonly recordType = 'regular';
  readonly outputs: number;
  readonly #exec: ExecOp;

  constructor(
    private readonly view: LlbOpView,
    private readonly platform: Platform,
    private readonly deps: ExecOpDeps,
  ) {
    if (view.op.op.case !== 'exec') throw new Error('not an exec op');
    this.#exec = view.op.op.value;
    this.outputs = Math.max(0, ...this.#exec.mounts.map((m) => Number(m.output) + 1));
  }

  async cacheMap(): Promise<CacheMap> {
    return execCacheMap(this.#exec, this.view.op.inputs.length, this.platform);
  }

  async exec(ctx: OpContext, inputs: readonly ResultRef[]): Promise<readonly ResultRef[]> {
    this.#checkEntitlements(ctx);
    const cleanups: Cleanup[] = [];
    const outputs: Array<{ index: number; key: string; committed?: boolean }> = [];
    try {
      let rootfs: readonly Mount[] | undefined;
      let readonlyRootfs = false;
      const mounts: ExecMount[] = [];
      for (const m of this.#exec.mounts) {
        if (m.dest === '/' && m.mountType === MountType.BIND) {
          rootfs = await this.#snapshotMount(m, inputs, cleanups, outputs);
          readonlyRootfs = m.readonly;
          continue;
        }
        const mount = await this.#mount(ctx, m, inputs, cleanups, outputs);
        if (mount) mounts.push(mount);
      }
      if (!rootfs) throw new SolveRequestError('exec op has no root mount (a mount with dest "/")');
      const meta = this.#exec.meta;
      const env = [...(meta?.env ?? []), ...proxyEnv(meta?.proxyEnv), ...(await this.#secretEnv(ctx))];
      const output = new StepOutput(ctx.progress);
      await this.deps.executor
        .run(
          {
            args: meta?.args ?? [],
            env,
            cwd: meta?.cwd || '/',
            ...(meta?.user ? { user: meta.user } : {}),
            ...(meta?.hostname ? { hostname: meta.hostname } : {}),
            extraHosts: (meta?.extraHosts ?? []).map((h) => ({ host: h.Host, ip: h.IP })),
            ulimits: (meta?.ulimit ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
            ...(meta?.cgroupParent ? { cgroupParent: meta.cgroupParent } : {}),
            ...(meta?.validExitCodes.length ? { validExitCodes: meta.validExitCodes } : {}),
          },
          {
            rootfs,
            readonlyRootfs,
            mounts,
            platform: this.platform,
            network: this.#network(),
            security: this.#exec.security === SecurityMode.INSECURE ? 'insecure' : 'sandbox',
            stdout: output.writable(1),
            stderr: output.writable(2),
            signal: ctx.signal,
            removeMountStubsRecursive: meta?.removeMountStubsRecursive ?? false,
          },
        )
        .finally(() => output.finish());
      const refs: ResultRef[] = Array.from({ length: this.outputs }, () => ({ snapshot: undefined }));
      for (const { index, key } of outputs) {
        const name = `exec-${newId()}`;
        await this.deps.snapshots.commit(name, key);
        outputs.find((o) => o.key === key)!.committed = true;
        refs[index] = { snapshot: name };
      }
      return refs;
    } finally {
      for (const cleanup of cleanups.reverse()) {
        try {
          await cleanup();
        } catch (err) {
          this.deps.logger?.warn({ err, vertex: ctx.digest }, 'exec cleanup failed');
        }
      }
    }
  }

  #checkEntitlements(ctx: OpContext): void {
    const granted = ctx.entitlements();
    if (this.#exec.network === NetMode.HOST && !granted.has('network.host')) {
      throw new SolveRequestError(
        'network mode host is not allowed: the build must be started with --allow network.host (and the daemon must allow it)',
        'permission-denied',
      );
    }
    if (this.#exec.security === SecurityMode.INSECURE && !granted.has('security.insecure')) {
      throw new SolveRequestError(
        'security mode insecure is not allowed: the build must be started with --allow security.insecure (and the daemon must allow it)',
        'permission-denied',
      );
    }
  }

  #network(): 'host' | 'none' {
    if (this.#exec.network === NetMode.NONE) return 'none';
    if (this.#exec.network === NetMode.HOST) return 'host';
    return this.deps.defaultNetwork;
  }

  /** A snapshot-backed mount: prepared (writable), viewed (read-only) or scratch. */
  async #snapshotMount(
    m: LlbMount,
    inputs: readonly ResultRef[],
    cleanups: Cleanup[],
    outputs: Array<{ index: number; key: string; committed?: boolean }>,
  ): Promise<readonly Mount[]> {
    const input = Number(m.input);
    const parent = input >= 0 ? inputs[input]?.snapshot : undefined;
    const key = `active-${newId()}`;
    const snapshots = this.deps.snapshots;
    if (m.readonly && m.output < 0n) {
      const mounts = await snapshots.view(key, parent);
      cleanups.push(() => snapshots.remove(key));
      return mounts;
    }
    const mounts = await snapshots.prepare(key, parent);
    if (m.output >= 0n && !m.readonly) {
      const output = { index: Number(m.output), key, committed: false };
      outputs.push(output);
      // Committing consumes the active key; only an uncommitted one is removed.
      cleanups.push(async () => {
        if (!output.committed) await snapshots.remove(key);
      });
    } else {
      cleanups.push(() => snapshots.remove(key));
    }
    return mounts;
  }

  async #mount(
    ctx: OpContext,
    m: LlbMount,
    inputs: readonly ResultRef[],
    cleanups: Cleanup[],
    outputs: Array<{ index: number; key: string; committed?: boolean }>,
  ): Promise<ExecMount | undefined> {
    switch (m.mountType) {
      case MountType.BIND: {
        const mounts = await this.#snapshotMount(m, inputs, cleanups, outputs);
        return {
          kind: 'snapshot',
          dest: m.dest,
          mounts,
          readonly: m.readonly,
          ...(m.selector ? { selector: m.selector } : {}),
        };
      }
      case MountType.CACHE: {
        const opt = m.cacheOpt;
        const lease = await this.deps.cacheMounts.acquire(
          opt?.ID || m.dest,
          sharingOf[opt?.sharing ?? CacheSharingOpt.SHARED],
          ctx.signal,
        );
        cleanups.push(() => lease.release());
        const from = Number(m.input) >= 0 ? inputs[Number(m.input)]?.snapshot : undefined;
        // A new cache starts as a copy of its `from` (BuildKit's seeding: how a Dockerfile cache
        // mount gets its uid, gid and mode).
        if (lease.created && from) await this.#seedCache(from, m.selector, lease.dir);
        return { kind: 'bind', dest: m.dest, source: lease.dir, readonly: m.readonly };
      }
      case MountType.TMPFS:
        return {
          kind: 'tmpfs',
          dest: m.dest,
          ...(m.TmpfsOpt?.size ? { size: Number(m.TmpfsOpt.size) } : {}),
        };
      case MountType.SECRET: {
        const opt = m.secretOpt;
        const data = await this.#secret(ctx, opt?.ID ?? '', opt?.optional ?? false);
        if (!data) return undefined;
        return {
          kind: 'secret',
          dest: m.dest,
          data,
          uid: opt?.uid ?? 0,
          gid: opt?.gid ?? 0,
          mode: opt?.mode || 0o400,
        };
      }
      case MountType.SSH: {
        const opt = m.SSHOpt;
        const id = opt?.ID || 'default';
        const session = await this.#session(ctx);
        if (!session) {
          if (opt?.optional) return undefined;
          throw new SolveRequestError(
            `no SSH agent "${id}" forwarded: pass --ssh ${id} to the build`,
            'failed-precondition',
          );
        }
        const forward = await forwardSSHAgent(session, id, { signal: ctx.signal });
        cleanups.push(() => forward.close());
        return {
          kind: 'ssh',
          dest: m.dest,
          socketPath: forward.socketPath,
          uid: opt?.uid ?? 0,
          gid: opt?.gid ?? 0,
          mode: opt?.mode || 0o600,
        };
      }
      default:
        throw new SolveRequestError(`unsupported mount type ${m.mountType} at ${m.dest}`);
    }
  }

  async #seedCache(snapshot: string, selector: string, dir: string): Promise<void> {
    const key = `cache-seed-${newId()}`;
    const mounts = await this.deps.snapshots.view(key, snapshot);
    try {
      await this.deps.snapshots.withMount(mounts, async (root) => {
        const source = await resolveInRoot(root, selector || '/');
        await copyTree(source, dir);
      });
    } finally {
      await this.deps.snapshots.remove(key);
    }
  }

  async #session(ctx: OpContext) {
    for (const id of ctx.sessionIds()) {
      try {
        return await this.deps.sessions.get(id, { timeoutMs: 5000, signal: ctx.signal });
      } catch {
        // try the next job's session
      }
    }
    return undefined;
  }

  async #secret(ctx: OpContext, id: string, optional: boolean): Promise<Uint8Array | undefined> {
    const session = await this.#session(ctx);
    const data = session ? await getSecret(session, id, { signal: ctx.signal }) : undefined;
    if (!data && !optional) {
      throw new SolveRequestError(
        `secret ${id} not found: pass --secret id=${id},src=… to the build`,
        'not-found',
      );
    }
    return data;
  }

  async #secretEnv(ctx: OpContext): Promise<string[]> {
    const env: string[] = [];
    for (const s of this.#exec.secretenv) {
      const data = await this.#secret(ctx, s.ID, s.optional);
      if (data) env.push(`${s.name}=${Buffer.from(data).toString('utf8')}`);
    }
    return env;
  }
}
