/** The same kinds as oci's ErrorKind (daemon/insight-web keeps to the daemon's own imports). */
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
  | 'unknown';

/** A file of the page (HTML, CSS, JavaScript) is not where kilnd was installed from. */
export class InsightAssetMissingError extends Error {
  readonly code = 'KILN_INSIGHT_WEB_ASSET_MISSING' as const;
  readonly kind: ErrorKind = 'failed-precondition';
  readonly path: string;
  constructor(options: { path: string; cause?: unknown }) {
    super(`build view file ${options.path} is missing; expected it beside kilnd's sources`, {
      cause: options.cause,
    });
    this.name = 'InsightAssetMissingError';
    this.path = options.path;
  }
}
