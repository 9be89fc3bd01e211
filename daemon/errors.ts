import type { ErrorKind } from '../oci/index.js';

/** A bad flag, config key or value; the daemon refuses to start. */
export class ConfigError extends Error {
  readonly kind: ErrorKind = 'invalid-argument';
  readonly code = 'KILN_DAEMON_CONFIG' as const;
  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${key}: ${message}`, options);
    this.name = 'ConfigError';
  }
}

/** Another kilnd holds the root directory. */
export class RootInUseError extends Error {
  readonly kind: ErrorKind = 'failed-precondition';
  readonly code = 'KILN_DAEMON_ROOT_IN_USE' as const;
  constructor(
    readonly root: string,
    readonly pid: number | undefined,
  ) {
    super(
      `another kilnd${pid ? ` (pid ${pid})` : ''} is already using root ${root}; stop it or pass a different --root`,
    );
    this.name = 'RootInUseError';
  }
}

/** A listener address the daemon cannot serve. */
export class ListenError extends Error {
  readonly kind: ErrorKind = 'failed-precondition';
  readonly code = 'KILN_DAEMON_LISTEN' as const;
  constructor(
    readonly address: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot listen on ${address}: ${message}`, options);
    this.name = 'ListenError';
  }
}
