import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { ExecMount, Executor, HostIP } from '../../executor/index.js';
import type { Platform } from '../../oci/index.js';
import type { NewContainerRequest } from '../../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import { MountType, NetMode, type Mount as LlbMount } from '../../proto/gen/pb/ops_pb.js';
import type { Mount } from '../../snapshotter/index.js';
import type { CacheMounts } from '../cache-mounts.js';
import type { JobGateway } from '../gateway.js';
import { newId } from '../job.js';
import { materialized } from '../op.js';
import { ContainerProcessFailedError, FrontendProtocolError } from './errors.js';
import { fromPbPlatform } from './conversions.js';

/** What containers need of the snapshotter (the shape solver ops use). */
export interface ContainerSnapshots {
  prepare(key: string, parent: string | undefined): Promise<readonly Mount[]>;
  view(key: string, parent: string | undefined): Promise<readonly Mount[]>;
  remove(key: string): Promise<void>;
}

export interface GatewayContainersOptions {
  readonly executor: Executor;
  readonly snapshots: ContainerSnapshots;
  readonly cacheMounts?: CacheMounts;
  readonly gateway: JobGateway;
  /** Checks that a ref id was handed to this frontend (throws otherwise). */
  readonly checkRef: (id: string) => void;
  readonly defaultPlatform: Platform;
  /** The daemon's network for `sandbox` (the default mode). */
  readonly defaultNetwork: 'host' | 'none';
  readonly logger?: Logger;
}

/** A process to run in a container, with its I/O. */
export interface ContainerProcess {
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly user: string;
  readonly insecure: boolean;
  readonly stdin?: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly signal: AbortSignal;
}

type Cleanup = () => Promise<void> | void;

interface Container {
  readonly rootfs: readonly Mount[];
  readonly readonlyRootfs: boolean;
  readonly mounts: readonly ExecMount[];
  readonly network: 'host' | 'none';
  readonly platform: Platform;
  readonly extraHosts: readonly HostIP[];
  readonly cleanups: Cleanup[];
  readonly running: Set<{ abort: AbortController; done: Promise<unknown> }>;
  /** The first process failure (start error or non-zero exit), reported by release. */
  failure?: unknown;
  released?: boolean;
}

/**
 * The containers one frontend run created (LLBBridge NewContainer): mounts prepared once from
 * the frontend's results — writable ones as active snapshots shared by every process of the
 * container — and each process a run of the executor on them. Released on ReleaseContainer, and
 * all of them when the frontend ends.
 *
 * Unlike BuildKit, where the first process is the container's init and later ones are exec'd
 * into it while it runs, every process here is a container of its own on the shared mounts:
 * processes may run after one another (the init need not be kept alive), a tmpfs is fresh for
 * each, and processes running at the same time should not write to the same mount.
 */
export class GatewayContainers {
  readonly #opts: GatewayContainersOptions;
  readonly #containers = new Map<string, Container>();

  constructor(opts: GatewayContainersOptions) {
    this.#opts = opts;
  }

  async create(request: NewContainerRequest, signal: AbortSignal): Promise<void> {
    const id = request.ContainerID;
    if (!id) throw new FrontendProtocolError('NewContainer needs a ContainerID');
    if (this.#containers.has(id))
      throw new FrontendProtocolError(`container ${id} already exists`, 'already-exists');
    const entitlements = this.#opts.gateway.job.entitlements;
    if (request.Network === NetMode.HOST && !entitlements.has('network.host')) {
      throw new FrontendProtocolError(
        'network mode host is not allowed: the build must be started with --allow network.host',
        'permission-denied',
      );
    }
    const cleanups: Cleanup[] = [];
    try {
      let root: { mounts: readonly Mount[]; readonly: boolean } | undefined;
      const mounts: ExecMount[] = [];
      for (const m of request.Mounts) {
        if (m.dest === '/') {
          if (m.mountType !== MountType.BIND)
            throw new FrontendProtocolError('the root mount (/) must be a bind mount');
          root = { mounts: await this.#snapshot(m, true, cleanups, signal), readonly: m.readonly };
          continue;
        }
        mounts.push(await this.#mount(m, cleanups, signal));
      }
      if (!root) throw new FrontendProtocolError(`container ${id} has no root mount (a mount with dest "/")`);
      this.#containers.set(id, {
        rootfs: root.mounts,
        readonlyRootfs: root.readonly,
        mounts,
        network:
          request.Network === NetMode.HOST
            ? 'host'
            : request.Network === NetMode.NONE
              ? 'none'
              : this.#opts.defaultNetwork,
        platform: fromPbPlatform(request.platform) ?? this.#opts.defaultPlatform,
        extraHosts: request.extraHosts.map((h) => ({ host: h.Host, ip: h.IP })),
        cleanups,
        running: new Set(),
      });
    } catch (err) {
      await this.#cleanup(cleanups);
      throw err;
    }
  }

  /** A result's snapshot: writable (an active snapshot on it) or a read-only view. */
  async #snapshot(
    m: LlbMount,
    writable: boolean,
    cleanups: Cleanup[],
    signal: AbortSignal,
  ): Promise<readonly Mount[]> {
    let parent: string | undefined;
    if (m.resultID) {
      this.#opts.checkRef(m.resultID);
      parent = (await materialized(this.#opts.gateway.resolve({ id: m.resultID }), signal)).snapshot;
    }
    const key = `gateway-container-${newId()}`;
    const snapshots = this.#opts.snapshots;
    const mounts = writable ? await snapshots.prepare(key, parent) : await snapshots.view(key, parent);
    cleanups.push(() => snapshots.remove(key));
    return mounts;
  }

  async #mount(m: LlbMount, cleanups: Cleanup[], signal: AbortSignal): Promise<ExecMount> {
    switch (m.mountType) {
      case MountType.BIND: {
        const mounts = await this.#snapshot(m, !m.readonly, cleanups, signal);
        return {
          kind: 'snapshot',
          dest: m.dest,
          mounts,
          readonly: m.readonly,
          ...(m.selector ? { selector: m.selector } : {}),
        };
      }
      case MountType.TMPFS:
        return {
          kind: 'tmpfs',
          dest: m.dest,
          ...(m.TmpfsOpt?.size ? { size: Number(m.TmpfsOpt.size) } : {}),
        };
      case MountType.CACHE: {
        if (!this.#opts.cacheMounts)
          throw new FrontendProtocolError('cache mounts are not available here', 'unimplemented');
        const lease = await this.#opts.cacheMounts.acquire(m.cacheOpt?.ID || m.dest, 'shared', signal);
        cleanups.push(() => lease.release());
        return { kind: 'bind', dest: m.dest, source: lease.dir, readonly: m.readonly };
      }
      default:
        throw new FrontendProtocolError(
          `mount type ${MountType[m.mountType] ?? m.mountType} at ${m.dest} is not supported in gateway containers (bind, tmpfs and cache are)`,
          'unimplemented',
        );
    }
  }

  /** Runs a process in container `id`; resolves with its exit code. */
  async run(id: string, process: ContainerProcess): Promise<number> {
    const container = this.#containers.get(id);
    if (!container)
      throw new FrontendProtocolError(`container ${id} was never created or is released`, 'not-found');
    if (process.insecure && !this.#opts.gateway.job.entitlements.has('security.insecure')) {
      throw new FrontendProtocolError(
        'security mode insecure is not allowed: the build must be started with --allow security.insecure',
        'permission-denied',
      );
    }
    const abort = new AbortController();
    const onAbort = (): void => abort.abort(process.signal.reason);
    process.signal.addEventListener('abort', onAbort, { once: true });
    if (process.signal.aborted) onAbort();
    const done = this.#opts.executor.run(
      {
        args: process.args,
        env: process.env,
        cwd: process.cwd || '/',
        ...(process.user ? { user: process.user } : {}),
        extraHosts: container.extraHosts,
        validExitCodes: Array.from({ length: 256 }, (_, i) => i),
      },
      {
        rootfs: container.rootfs,
        readonlyRootfs: container.readonlyRootfs,
        mounts: container.mounts,
        platform: container.platform,
        network: container.network,
        security: process.insecure ? 'insecure' : 'sandbox',
        ...(process.stdin ? { stdin: process.stdin } : {}),
        stdout: process.stdout,
        stderr: process.stderr,
        signal: abort.signal,
      },
    );
    const entry = { abort, done: done.catch(() => undefined) };
    container.running.add(entry);
    try {
      const code = await done;
      if (code !== 0) container.failure ??= new ContainerProcessFailedError({ exitCode: code });
      return code;
    } catch (err) {
      if (!container.released) container.failure ??= err;
      throw err;
    } finally {
      container.running.delete(entry);
      process.signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Stops the container's processes and removes its mounts; then, as BuildKit does, throws the
   * first failure of a process that ran in it (ContainerProcessFailedError for a non-zero exit).
   * Unknown ids are an error.
   */
  async release(id: string): Promise<void> {
    const container = this.#containers.get(id);
    if (!container)
      throw new FrontendProtocolError(`container ${id} was never created or is released`, 'not-found');
    this.#containers.delete(id);
    container.released = true;
    for (const p of container.running) p.abort.abort(new Error(`container ${id} released`));
    await Promise.all([...container.running].map((p) => p.done));
    await this.#cleanup(container.cleanups);
    if (container.failure !== undefined) throw container.failure;
  }

  /** Releases every container (the frontend has ended), whatever their processes did. */
  async releaseAll(): Promise<void> {
    for (const id of [...this.#containers.keys()]) await this.release(id).catch(() => undefined);
  }

  async #cleanup(cleanups: Cleanup[]): Promise<void> {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (err) {
        this.#opts.logger?.warn({ err }, 'gateway container cleanup failed');
      }
    }
  }
}
