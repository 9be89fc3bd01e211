import type { Readable, Writable } from 'node:stream';
import type { Platform } from '../oci/index.js';
import type { Mount } from '../snapshotter/index.js';

/** An `/etc/hosts` entry added for the step (`--add-host`). */
export interface HostIP {
  readonly host: string;
  readonly ip: string;
}

/** One resource limit; `name` as in `ulimit` (`nofile`, `nproc`, …); -1 means unlimited. */
export interface Ulimit {
  readonly name: string;
  readonly soft: number | bigint;
  readonly hard: number | bigint;
}

/** What to run: the ExecOp's `Meta`, already decided by the solver. */
export interface ProcessSpec {
  /** argv; argv[0] is looked up in PATH inside the container. Must not be empty. */
  readonly args: readonly string[];
  /** `KEY=value` entries; a default PATH is added when none is present. */
  readonly env?: readonly string[];
  /** Working directory, created (0755, owned by the user) when missing. Default `/`. */
  readonly cwd?: string;
  /** `name`, `uid`, `uid:gid`, `name:group`; resolved in the rootfs. Default root. */
  readonly user?: string;
  /** Default `buildkitsandbox`. */
  readonly hostname?: string;
  readonly extraHosts?: readonly HostIP[];
  readonly ulimits?: readonly Ulimit[];
  /** cgroup parent; the container's cgroup becomes `<parent>/kiln/<id>` (or systemd `slice:prefix:id`). */
  readonly cgroupParent?: string;
  /** Exit codes that count as success; default `[0]`. */
  readonly validExitCodes?: readonly number[];
}

/**
 * A mount besides the rootfs. Destinations are absolute paths inside the container; a later mount
 * at the same destination replaces an earlier one.
 */
export type ExecMount =
  /** A snapshot, or the `selector` sub-path of it (resolved inside the snapshot; symlinks cannot escape). */
  | { kind: 'snapshot'; dest: string; mounts: readonly Mount[]; selector?: string; readonly: boolean }
  /** A host directory or file (cache mounts arrive this way, prepared by the solver). */
  | { kind: 'bind'; dest: string; source: string; readonly: boolean }
  /** A fresh tmpfs; `size` in bytes (0 or absent = kernel default). */
  | { kind: 'tmpfs'; dest: string; size?: number }
  /** A secret file, written only to a private host tmpfs and bound in read-only. */
  | { kind: 'secret'; dest: string; data: Uint8Array; uid: number; gid: number; mode: number }
  /** A host unix socket (the client's forwarded SSH agent); its owner and mode are set to uid/gid/mode. */
  | { kind: 'ssh'; dest: string; socketPath: string; uid: number; gid: number; mode: number };

/** Where and how a process runs. */
export interface RunOptions {
  /** The rootfs snapshot's mounts, applied in order; writable unless `readonlyRootfs`. */
  readonly rootfs: readonly Mount[];
  readonly readonlyRootfs?: boolean;
  readonly mounts: readonly ExecMount[];
  /** A foreign platform runs under its binfmt_misc handler and fails early when there is none. */
  readonly platform: Platform;
  /** `sandbox` is the host's network in kiln (as BuildKit without CNI); `none` has only `lo`. */
  readonly network: 'sandbox' | 'host' | 'none';
  /** `insecure` = privileged: all capabilities, no masked or read-only paths, devices allowed. */
  readonly security: 'sandbox' | 'insecure';
  /**
   * Fed to the process's stdin (a pipe) until it ends; absent means /dev/null. Gateway frontends
   * speak gRPC over stdin/stdout, so this is what lets a daemon serve a process interactively.
   */
  readonly stdin?: Readable;
  /** Receive the process's stdout and stderr (pipes, not a terminal) while it runs; never ended. */
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Aborting kills the container (SIGKILL) and rejects with ExecCanceledError after cleanup. */
  readonly signal?: AbortSignal;
  /** Also remove the missing parents created for mount points, not just the mount points. */
  readonly removeMountStubsRecursive?: boolean;
}

/**
 * Runs build steps in containers.
 *
 * `run` resolves to the exit code when it is one of `validExitCodes` (default 0) and rejects
 * otherwise; whatever happens, every mount, bundle, container and process it made is gone when the
 * promise settles. Errors: ExecError (exit code not valid, with the last output lines),
 * ExecCanceledError (signal aborted), ContainerStartError / RuntimeUnavailableError (the runtime
 * could not start the process), UserNotFoundError, InvalidProcessError, MountSourceNotFoundError,
 * HostMountError, PlatformUnsupportedError.
 */
export interface Executor {
  run(process: ProcessSpec, options: RunOptions): Promise<number>;
}
