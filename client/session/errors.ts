import type { ErrorKind } from '../../oci/index.js';

/** The session could not be opened or its tunnel failed. */
export class ClientSessionError extends Error {
  readonly kind: ErrorKind;
  readonly code = 'KILN_CLIENT_SESSION' as const;
  readonly sessionId: string;
  constructor(options: { sessionId: string; message: string; kind?: ErrorKind; cause?: unknown }) {
    super(`session ${options.sessionId}: ${options.message}`, { cause: options.cause });
    this.name = 'ClientSessionError';
    this.sessionId = options.sessionId;
    this.kind = options.kind ?? 'unavailable';
  }
}

/** A file transfer inside the session broke the fsutil protocol or failed on disk. */
export class ClientTransferError extends Error {
  readonly kind: ErrorKind;
  readonly code = 'KILN_CLIENT_TRANSFER' as const;
  readonly path: string | undefined;
  constructor(options: { message: string; path?: string; kind?: ErrorKind; cause?: unknown }) {
    super(options.message, { cause: options.cause });
    this.name = 'ClientTransferError';
    this.path = options.path;
    this.kind = options.kind ?? 'invalid-argument';
  }
}

/** A provider was configured wrongly (unreadable docker config, unknown secret source, …). */
export class ProviderConfigError extends Error {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_CLIENT_PROVIDER_CONFIG' as const;
  readonly provider: string;
  constructor(options: { provider: string; message: string; cause?: unknown }) {
    super(`${options.provider}: ${options.message}`, { cause: options.cause });
    this.name = 'ProviderConfigError';
    this.provider = options.provider;
  }
}
