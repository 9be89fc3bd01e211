import type { ErrorKind } from '../oci/index.js';

/** Common shape of every executor failure: a stable `code` and a `kind` the daemon maps to a status. */
export abstract class ExecutorError extends Error {
  abstract readonly code: string;
  abstract readonly kind: ErrorKind;
}

/**
 * The process ran and exited with a code not in its valid exit codes. The message is BuildKit's
 * (`process "<args>" did not complete successfully: exit code: N`); `lastLines` holds the last lines
 * the process wrote (stdout and stderr interleaved) so a caller can show the real error.
 */
export class ExecError extends ExecutorError {
  readonly code = 'KILN_EXECUTOR_EXIT' as const;
  readonly kind = 'unknown' as const;
  readonly args: readonly string[];
  readonly exitCode: number;
  readonly lastLines: readonly string[];
  constructor(opts: { args: readonly string[]; exitCode: number; lastLines: readonly string[] }) {
    super(`process "${opts.args.join(' ')}" did not complete successfully: exit code: ${opts.exitCode}`);
    this.name = 'ExecError';
    this.args = opts.args;
    this.exitCode = opts.exitCode;
    this.lastLines = opts.lastLines;
  }
}

/** The run was aborted through its signal; the container was killed and everything cleaned up. */
export class ExecCanceledError extends ExecutorError {
  readonly code = 'KILN_EXECUTOR_CANCELED' as const;
  readonly kind = 'canceled' as const;
  readonly args: readonly string[];
  constructor(opts: { args: readonly string[]; cause?: unknown }) {
    super(`process "${opts.args.join(' ')}" was canceled`, { cause: opts.cause });
    this.name = 'ExecCanceledError';
    this.args = opts.args;
  }
}

/** The OCI runtime binary could not be started at all (missing, not executable). */
export class RuntimeUnavailableError extends ExecutorError {
  readonly code = 'KILN_EXECUTOR_RUNTIME_UNAVAILABLE' as const;
  readonly kind = 'failed-precondition' as const;
  readonly runtime: string;
  constructor(opts: { runtime: string; cause?: unknown }) {
    super(
      `OCI runtime ${JSON.stringify(opts.runtime)} cannot be executed: expected a runc-compatible binary`,
      {
        cause: opts.cause,
      },
    );
    this.name = 'RuntimeUnavailableError';
    this.runtime = opts.runtime;
  }
}

/**
 * The runtime refused to create or start the container (bad spec, missing executable in the rootfs,
 * failed mount inside the container). `runtimeMessage` is the runtime's own error text.
 */
export class ContainerStartError extends ExecutorError {
  readonly code = 'KILN_EXECUTOR_START' as const;
  readonly kind = 'failed-precondition' as const;
  readonly args: readonly string[];
  readonly runtimeMessage: string;
  constructor(opts: { args: readonly string[]; runtimeMessage: string }) {
    super(`container for "${opts.args.join(' ')}" failed to start: ${opts.runtimeMessage}`);
    this.name = 'ContainerStartError';
    this.args = opts.args;
    this.runtimeMessage = opts.runtimeMessage;
  }
}

/** The process description is malformed (empty args, relative mount destination, unknown ulimit …). */
export class InvalidProcessError extends ExecutorError {
  readonly code = 'KILN_EXECUTOR_INVALID' as const;
  readonly kind = 'invalid-argument' as const;
  readonly field: string;
  constructor(opts: { field: string; reason: string }) {
    super(`invalid ${opts.field}: ${opts.reason}`);
    this.name = 'InvalidProcessError';
    this.field = opts.field;
  }
}

/** A user or group name has no entry in the rootfs's /etc/passwd or /etc/group. */
export class UserNotFoundError extends ExecutorError {
  readonly code = 'KILN_EXECUTOR_USER' as const;
  readonly kind = 'failed-precondition' as const;
  readonly user: string;
  constructor(opts: { user: string; reason: string; cause?: unknown }) {
    super(`unable to find user ${JSON.stringify(opts.user)}: ${opts.reason}`, { cause: opts.cause });
    this.name = 'UserNotFoundError';
    this.user = opts.user;
  }
}

/** A mount's selected sub-path does not exist in its snapshot. */
export class MountSourceNotFoundError extends ExecutorError {
  readonly code = 'KILN_EXECUTOR_MOUNT_SOURCE' as const;
  readonly kind = 'not-found' as const;
  readonly dest: string;
  readonly selector: string;
  constructor(opts: { dest: string; selector: string; cause?: unknown }) {
    super(
      `mount ${opts.dest}: selected path ${JSON.stringify(opts.selector)} does not exist in its snapshot`,
      {
        cause: opts.cause,
      },
    );
    this.name = 'MountSourceNotFoundError';
    this.dest = opts.dest;
    this.selector = opts.selector;
  }
}

/** mount(8) or umount(8) failed on the host; `output` is its stderr. */
export class HostMountError extends ExecutorError {
  readonly code = 'KILN_EXECUTOR_MOUNT' as const;
  readonly kind = 'internal' as const;
  readonly target: string;
  readonly output: string;
  constructor(opts: { op: 'mount' | 'umount'; target: string; output: string; cause?: unknown }) {
    super(`${opts.op} ${opts.target} failed: ${opts.output.trim() || 'no output'}`, { cause: opts.cause });
    this.name = 'HostMountError';
    this.target = opts.target;
    this.output = opts.output;
  }
}

/** No working emulator (or native support) for a step's platform. */
export class PlatformUnsupportedError extends ExecutorError {
  readonly code = 'KILN_EXECUTOR_PLATFORM' as const;
  readonly kind = 'failed-precondition' as const;
  readonly platform: string;
  readonly supported: readonly string[];
  /** `problem` starts the message, e.g. "no working QEMU handler for linux/arm64: install …". */
  constructor(opts: { platform: string; supported: readonly string[]; problem: string }) {
    super(`${opts.problem} (platforms supported here: ${opts.supported.join(', ')})`);
    this.name = 'PlatformUnsupportedError';
    this.platform = opts.platform;
    this.supported = opts.supported;
  }
}
