import { randomBytes } from 'node:crypto';
import { addAbortListener } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type Platform, hostPlatform, normalizePlatform } from '../oci/index.js';
import { BundleMounts, dedupeMounts } from './bundle-mounts.js';
import {
  type EmulatorStatus,
  type Probe,
  checkPlatform,
  detectEmulators,
  detectPlatforms,
} from './emulation.js';
import {
  ContainerStartError,
  ExecCanceledError,
  ExecError,
  type ExecutorError,
  InvalidProcessError,
} from './errors.js';
import { EtcFiles, defaultHostname } from './etc-files.js';
import { mountsUnder, unmountAll } from './host-mounts.js';
import { findMountStubs, removeMountStubs } from './mount-stubs.js';
import { allCapabilities, privilegedDevices } from './privileges.js';
import { mkdirOwned, resolveInRoot } from './root-path.js';
import { OciRuntime, type RuntimeExit, runtimeErrors } from './runtime.js';
import { type SpecDevice, buildSpec, specJson } from './spec.js';
import { StepLog } from './step-log.js';
import type { Executor, ProcessSpec, RunOptions } from './types.js';
import { resolveUser } from './user.js';

export interface RuncExecutorOptions {
  /** A directory the executor owns: `bundles/<id>` per run, `state/` for shared files, `tmp/`. */
  readonly root: string;
  /** The runc-compatible binary (`runc`, `crun`, or a path). Default `runc`. */
  readonly runtime?: string;
  /** The runtime's `--root` state directory. Default `<root>/runtime`. */
  readonly runtimeRoot?: string;
  /** The host file copied into containers as /etc/resolv.conf. Default `/etc/resolv.conf`. */
  readonly resolvConf?: string;
  /** Set `noNewPrivileges` in every spec (setuid binaries gain nothing). Default true. */
  readonly noNewPrivileges?: boolean;
  /** binfmt_misc directory and probe for platform detection (see detectPlatforms). */
  readonly binfmtDir?: string;
  readonly probe?: Probe;
  readonly logger?: Logger;
}

/** How many output lines an ExecError carries. */
const errorLines = 20;
/** After this long, a container that ignores `runtime kill` has its runtime process killed. */
const killEscalationMs = 7000;

interface Privileges {
  readonly capabilities: readonly string[];
  readonly devices: readonly SpecDevice[];
}

/**
 * Runs build steps with runc (or crun): one OCI bundle per run under `<root>/bundles/<id>`, the
 * spec modelled on BuildKit's runc worker (see buildSpec), stdout/stderr streamed as pipes.
 *
 * Lifecycle: construct once per daemon, call `recover()` at startup before the first run (it
 * removes what a crashed predecessor left), then `run` concurrently as often as needed. A run
 * costs one runtime process, plus one mount(8) for an overlay rootfs and one umount(8) for all
 * host mounts; platform detection runs once, on the first step for a foreign platform.
 */
export class RuncExecutor implements Executor {
  readonly #root: string;
  readonly #runtime: OciRuntime;
  readonly #etc: EtcFiles;
  readonly #noNewPrivileges: boolean;
  readonly #opts: RuncExecutorOptions;
  readonly #logger: Logger | undefined;
  readonly #host = normalizePlatform(hostPlatform());
  #dirs: Promise<void> | undefined;
  #privileges: Promise<Privileges> | undefined;
  #platforms: Promise<{ platforms: Platform[]; emulators: EmulatorStatus[] }> | undefined;

  constructor(opts: RuncExecutorOptions) {
    this.#opts = opts;
    this.#root = opts.root;
    this.#runtime = new OciRuntime({
      binary: opts.runtime ?? 'runc',
      stateRoot: opts.runtimeRoot ?? join(opts.root, 'runtime'),
    });
    this.#etc = new EtcFiles({
      stateDir: join(opts.root, 'state'),
      resolvConfSource: opts.resolvConf ?? '/etc/resolv.conf',
    });
    this.#noNewPrivileges = opts.noNewPrivileges ?? true;
    this.#logger = opts.logger;
  }

  #ensureDirs(): Promise<void> {
    this.#dirs ??= (async () => {
      for (const d of ['bundles', 'state', 'tmp'])
        await mkdir(join(this.#root, d), { recursive: true, mode: 0o711 });
    })();
    return this.#dirs;
  }

  /**
   * The platforms steps can run on (host first, then working emulators), detected once and kept.
   * See detectPlatforms.
   */
  async platforms(): Promise<Platform[]> {
    return (await this.#detect()).platforms;
  }

  #detect(): Promise<{ platforms: Platform[]; emulators: EmulatorStatus[] }> {
    this.#platforms ??= (async () => {
      await this.#ensureDirs();
      const opts = {
        workDir: join(this.#root, 'tmp'),
        ...(this.#opts.binfmtDir ? { binfmtDir: this.#opts.binfmtDir } : {}),
        ...(this.#opts.probe ? { probe: this.#opts.probe } : {}),
      };
      const emulators = await detectEmulators(opts);
      return { platforms: await detectPlatforms({ ...opts, emulators }), emulators };
    })();
    return this.#platforms;
  }

  async #checkPlatform(platform: Platform): Promise<void> {
    const p = normalizePlatform(platform);
    if (p.os === this.#host.os && p.architecture === this.#host.architecture && !p.variant) return;
    const { platforms, emulators } = await this.#detect();
    checkPlatform(p, platforms, emulators);
  }

  #privilegesFor(): Promise<Privileges> {
    this.#privileges ??= Promise.all([allCapabilities(), privilegedDevices()]).then(
      ([capabilities, devices]) => ({
        capabilities,
        devices,
      }),
    );
    return this.#privileges;
  }

  /** See Executor.run. */
  async run(process: ProcessSpec, options: RunOptions): Promise<number> {
    const { signal } = options;
    if (signal?.aborted) throw new ExecCanceledError({ args: process.args, cause: signal.reason });
    if (process.args.length === 0)
      throw new InvalidProcessError({ field: 'args', reason: 'no command to run' });
    const mounts = dedupeMounts(options.mounts);
    await this.#checkPlatform(options.platform);
    await this.#ensureDirs();
    const privileges = options.security === 'insecure' ? await this.#privilegesFor() : undefined;

    const id = randomBytes(12).toString('hex');
    const bundle = join(this.#root, 'bundles', id);
    await mkdir(bundle, { mode: 0o711 });
    const host = new BundleMounts(bundle);
    let stubs: string[] = [];
    let started = false;
    let failure: unknown;
    try {
      const root = await host.rootfs(options.rootfs, options.readonlyRootfs ?? false);
      const user = await resolveUser(root.path, process.user ?? '');
      const cwd = await resolveInRoot(root.path, process.cwd ?? '/');
      await mkdirOwned(cwd, root.path, user);
      const specMounts = await host.prepare(mounts);
      // Also for a read-only rootfs: the runtime creates mount points before it remounts / read-only.
      const dests = ['/etc/resolv.conf', '/etc/hosts', ...mounts.map((m) => m.dest)];
      stubs = await findMountStubs(root.path, dests, options.removeMountStubsRecursive ?? false);
      const hostname = process.hostname || defaultHostname;
      const spec = buildSpec({
        id,
        process,
        user,
        hostname,
        rootPath: root.path,
        readonlyRootfs: root.readonly,
        resolvConf: await this.#etc.resolvConf(),
        hosts: await this.#etc.hosts(hostname, process.extraHosts ?? [], bundle),
        mounts: specMounts,
        network: options.network,
        security: options.security,
        insecureCapabilities: privileges?.capabilities ?? [],
        insecureDevices: privileges?.devices ?? [],
        noNewPrivileges: this.#noNewPrivileges,
      });
      await writeFile(join(bundle, 'config.json'), specJson(spec));
      signal?.throwIfAborted();
      started = true;
      return await this.#execute(id, bundle, process, options);
    } catch (err) {
      failure = err;
      if (signal?.aborted && !(err instanceof ExecCanceledError)) {
        throw new ExecCanceledError({ args: process.args, cause: err });
      }
      throw err;
    } finally {
      await this.#cleanup({ id, bundle, host, stubs, started, failed: failure !== undefined });
    }
  }

  async #execute(id: string, bundle: string, process: ProcessSpec, options: RunOptions): Promise<number> {
    const logPath = join(bundle, 'runtime.log');
    const tail = new StepLog({ limit: 0, tail: 16 * 1024 });
    const { child, exited } = this.#runtime.run({ id, bundle, logPath, stdin: options.stdin !== undefined });
    if (options.stdin && child.stdin) {
      // EPIPE once the process has exited is expected, not a failure of the run.
      child.stdin.on('error', () => undefined);
      options.stdin.pipe(child.stdin);
      const unpipe = (): void => void options.stdin?.unpipe(child.stdin!);
      exited.then(unpipe, unpipe);
    }
    let ended = false;
    const done = exited.then(
      (r) => ((ended = true), r),
      (err: unknown) => {
        ended = true;
        throw err;
      },
    );
    for (const [from, to] of [
      [child.stdout, options.stdout],
      [child.stderr, options.stderr],
    ] as const) {
      from?.on('data', (chunk: Buffer) => tail.write(chunk));
      from?.pipe(to, { end: false });
    }
    let aborted = false;
    const kill = async (): Promise<void> => {
      aborted = true;
      const since = Date.now();
      while (!ended) {
        await this.#runtime.kill(id, 'KILL');
        await Promise.race([done.catch(() => undefined), delay(50)]);
        if (!ended && Date.now() - since > killEscalationMs) child.kill('SIGKILL');
      }
    };
    const listener = options.signal ? addAbortListener(options.signal, () => void kill()) : undefined;
    let exit: RuntimeExit;
    try {
      exit = await done;
    } finally {
      listener?.[Symbol.dispose]();
    }
    if (aborted) throw new ExecCanceledError({ args: process.args, cause: options.signal?.reason });
    if (exit.code !== 0) {
      const errors = await runtimeErrors(logPath);
      if (errors.length > 0)
        throw new ContainerStartError({ args: process.args, runtimeMessage: errors.join('; ') });
    }
    this.#logger?.debug({ id, command: process.args[0], exitCode: exit.code }, 'process exited');
    if (!(process.validExitCodes ?? [0]).includes(exit.code)) {
      throw new ExecError({ args: process.args, exitCode: exit.code, lastLines: tail.lastLines(errorLines) });
    }
    return exit.code;
  }

  async #cleanup(run: {
    id: string;
    bundle: string;
    host: BundleMounts;
    stubs: string[];
    started: boolean;
    failed: boolean;
  }): Promise<void> {
    // `runtime run` removes its container when it exits normally; after a kill or a start failure
    // make sure, since a container left behind keeps its mounts busy.
    if (run.started && run.failed) await this.#runtime.delete(run.id);
    await removeMountStubs(run.stubs, this.#logger);
    const failures = await run.host.release();
    if (failures.length > 0) {
      this.#logger?.error(
        { err: failures[0], bundle: run.bundle },
        'mounts left behind; bundle kept for recover()',
      );
      if (!run.failed) throw failures[0] as ExecutorError;
      return;
    }
    await rm(run.bundle, { recursive: true, force: true });
  }

  /**
   * Removes what earlier runs left behind (a crashed daemon, a failed unmount): containers in the
   * runtime's state directory, mounts under `<root>/bundles`, and the bundles themselves. Call at
   * startup, or when no run is in flight; a bundle whose mounts cannot be removed is kept.
   */
  async recover(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#ensureDirs();
    for (const id of await this.#runtime.list()) {
      opts.signal?.throwIfAborted();
      await this.#runtime.kill(id, 'KILL');
      await this.#runtime.delete(id);
    }
    const bundles = join(this.#root, 'bundles');
    const failures = await unmountAll(await mountsUnder(bundles));
    if (failures.length > 0) {
      this.#logger?.error({ err: failures[0] }, 'cannot unmount leftovers; bundles kept');
      return;
    }
    if ((await mountsUnder(bundles)).length > 0) return;
    await rm(bundles, { recursive: true, force: true });
    await mkdir(bundles, { mode: 0o711 });
  }
}
