/** The fixed set of failure classes every kiln subsystem uses; daemon/ maps each to a gRPC status. */
export type ErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'permission-denied'
  | 'resource-exhausted'
  | 'unavailable'
  | 'canceled'
  | 'unimplemented'
  | 'internal'
  /** A failure with no better class (a build step's process failed): BuildKit reports these as Unknown. */
  | 'unknown';

/** A malformed digest, platform, reference, descriptor or manifest. */
export class OciFormatError extends Error {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_OCI_FORMAT' as const;
  constructor(
    readonly what: string,
    readonly value: string,
    readonly reason: string,
  ) {
    super(`invalid ${what} ${JSON.stringify(value)}: ${reason}`);
    this.name = 'OciFormatError';
  }
}
