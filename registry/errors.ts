import type { ErrorKind } from '../oci/index.js';

/** What the client was doing when it failed; the first word of every message. */
export type RegistryOperation = 'resolve' | 'pull' | 'push' | 'auth' | 'mount';

/** Where a registry failure happened. Every registry error carries these, for messages and logs. */
export interface RegistryErrorContext {
  readonly operation: RegistryOperation;
  /** The registry host as users name it (`127.0.0.1:5000`, `docker.io`). */
  readonly registry: string;
  /** Repository path inside the registry (`library/busybox`). */
  readonly repository: string;
  /** HTTP status, when a response arrived. */
  readonly status?: number;
  /** The URL that failed, without its query (upload URLs carry opaque state). */
  readonly url?: string;
  /** Why, in words the user can act on. */
  readonly detail: string;
  readonly cause?: unknown;
}

const statusTexts: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** A URL without its query: upload URLs carry opaque state that has no place in messages or logs. */
export function stripQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** A connection error in words: undici hides the useful part (ECONNRESET…) in `cause`. */
export function describeCause(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause && cause !== e.message
    ? `${e.message ?? String(error)} (${cause})`
    : (e.message ?? String(error));
}

function message(c: RegistryErrorContext): string {
  const where = `${c.operation} ${c.registry}/${c.repository}`;
  if (c.status === undefined) return `${where}: ${c.url ? `${stripQuery(c.url)}: ` : ''}${c.detail}`;
  const status = `${c.status} ${statusTexts[c.status] ?? 'HTTP error'}`;
  return `${where}: ${status}${c.url ? ` from ${stripQuery(c.url)}` : ''}: ${c.detail}`;
}

/** The root of every registry failure: `kind` and `code` to switch on, the context as fields. */
export abstract class RegistryError extends Error {
  abstract readonly kind: ErrorKind;
  abstract readonly code: string;
  readonly operation: RegistryOperation;
  readonly registry: string;
  readonly repository: string;
  readonly status: number | undefined;
  readonly url: string | undefined;
  readonly detail: string;

  constructor(context: RegistryErrorContext) {
    super(message(context), { cause: context.cause });
    this.operation = context.operation;
    this.registry = context.registry;
    this.repository = context.repository;
    this.status = context.status;
    this.url = context.url === undefined ? undefined : stripQuery(context.url);
    this.detail = context.detail;
  }
}

/** 401: no credentials, wrong credentials, or a token server that refused them. */
export class RegistryUnauthorizedError extends RegistryError {
  readonly kind = 'permission-denied' as const;
  readonly code = 'KILN_REGISTRY_UNAUTHORIZED' as const;
  override readonly name = 'RegistryUnauthorizedError';
}

/** 403: authenticated, but not allowed to do this. */
export class RegistryDeniedError extends RegistryError {
  readonly kind = 'permission-denied' as const;
  readonly code = 'KILN_REGISTRY_DENIED' as const;
  override readonly name = 'RegistryDeniedError';
}

/** 404, or a repository, manifest or blob the registry does not have. */
export class RegistryNotFoundError extends RegistryError {
  readonly kind = 'not-found' as const;
  readonly code = 'KILN_REGISTRY_NOT_FOUND' as const;
  override readonly name = 'RegistryNotFoundError';
}

/** 429 or 5xx after the retries ran out, a connection failure, or a timeout. */
export class RegistryUnavailableError extends RegistryError {
  readonly kind = 'unavailable' as const;
  readonly code = 'KILN_REGISTRY_UNAVAILABLE' as const;
  override readonly name = 'RegistryUnavailableError';
}

/** Another 4xx: the registry refused what was sent (an invalid manifest, an unknown blob in it…). */
export class RegistryRejectedError extends RegistryError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_REGISTRY_REJECTED' as const;
  override readonly name = 'RegistryRejectedError';
}

/** The registry sent content whose digest or size differs from what was asked for. */
export class RegistryContentMismatchError extends RegistryError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_REGISTRY_CONTENT_MISMATCH' as const;
  override readonly name = 'RegistryContentMismatchError';
}

/** A response kiln cannot use: malformed JSON, a manifest over the size limit, a missing header. */
export class RegistryProtocolError extends RegistryError {
  readonly kind = 'unavailable' as const;
  readonly code = 'KILN_REGISTRY_PROTOCOL' as const;
  override readonly name = 'RegistryProtocolError';
}

/** An index offers no manifest for the wanted platform; `available` lists what it does offer. */
export class NoMatchingPlatformError extends RegistryError {
  readonly kind = 'not-found' as const;
  readonly code = 'KILN_REGISTRY_NO_MATCHING_PLATFORM' as const;
  override readonly name = 'NoMatchingPlatformError';
  readonly wanted: string;
  readonly available: readonly string[];
  constructor(
    context: Omit<RegistryErrorContext, 'detail'> & { wanted: string; available: readonly string[] },
  ) {
    super({
      ...context,
      detail: `no manifest for platform ${context.wanted} (the index offers ${context.available.join(', ') || 'none'})`,
    });
    this.wanted = context.wanted;
    this.available = context.available;
  }
}

/** A docker credential helper failed (not "no credentials", which is just an anonymous request). */
export class CredentialHelperError extends Error {
  readonly kind = 'unavailable' as const;
  readonly code = 'KILN_REGISTRY_CREDENTIAL_HELPER' as const;
  readonly helper: string;
  readonly host: string;
  constructor(options: { helper: string; host: string; detail: string; cause?: unknown }) {
    super(`docker-credential-${options.helper} get for ${options.host}: ${options.detail}`, {
      cause: options.cause,
    });
    this.name = 'CredentialHelperError';
    this.helper = options.helper;
    this.host = options.host;
  }
}

/** Per-host settings that cannot be used (an unreadable CA file, a malformed mirror). */
export class RegistryConfigError extends Error {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_REGISTRY_CONFIG' as const;
  readonly host: string;
  constructor(options: { host: string; detail: string; cause?: unknown }) {
    super(`registry settings for ${options.host}: ${options.detail}`, { cause: options.cause });
    this.name = 'RegistryConfigError';
    this.host = options.host;
  }
}
