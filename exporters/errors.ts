import type { ErrorKind } from '../oci/index.js';

/** An output the client asked for that kiln cannot produce as given. */
export class ExporterRequestError extends Error {
  readonly code = 'KILN_EXPORTERS_BAD_REQUEST' as const;
  readonly kind: ErrorKind;
  constructor(message: string, kind: ErrorKind = 'invalid-argument', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExporterRequestError';
    this.kind = kind;
  }
}
