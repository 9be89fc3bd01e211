import type { ErrorKind } from '../../oci/index.js';

function kindOf(cause: unknown, fallback: ErrorKind): ErrorKind {
  const kind = (cause as { kind?: unknown } | null)?.kind;
  return typeof kind === 'string' ? (kind as ErrorKind) : fallback;
}

function detail(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** An `--export-cache` / `--import-cache` entry kiln cannot accept as given. */
export class CacheOptionError extends Error {
  readonly code = 'KILN_CACHE_BAD_OPTION' as const;
  readonly kind: ErrorKind = 'invalid-argument';
  constructor(
    message: string,
    readonly attribute: string | undefined,
  ) {
    super(message);
    this.name = 'CacheOptionError';
  }
}

/** A cache backend kiln does not implement (`gha`, `s3`, `azblob`). */
export class UnsupportedCacheError extends Error {
  readonly code = 'KILN_CACHE_UNSUPPORTED' as const;
  readonly kind: ErrorKind = 'unimplemented';
  constructor(
    readonly type: string,
    readonly direction: 'export' | 'import',
  ) {
    super(
      `cache ${direction}er ${JSON.stringify(type)} is not supported (kiln knows registry, local${direction === 'export' ? ' and inline' : ''})`,
    );
    this.name = 'UnsupportedCacheError';
  }
}

/** A cache manifest, index or config that does not have BuildKit's cache format. */
export class CacheFormatError extends Error {
  readonly code = 'KILN_CACHE_FORMAT' as const;
  readonly kind: ErrorKind = 'failed-precondition';
  constructor(
    readonly source: string,
    readonly reason: string,
    options: { cause?: unknown } = {},
  ) {
    super(`the cache ${source} is not a BuildKit cache: ${reason}`, { cause: options.cause });
    this.name = 'CacheFormatError';
  }
}

/** Exporting the build cache to `target` failed; `kind` is the cause's. */
export class CacheExportError extends Error {
  readonly code = 'KILN_CACHE_EXPORT' as const;
  readonly kind: ErrorKind;
  constructor(
    readonly target: string,
    options: { cause: unknown },
  ) {
    super(`failed to export cache to ${target}: ${detail(options.cause)}`, { cause: options.cause });
    this.name = 'CacheExportError';
    this.kind = kindOf(options.cause, 'unavailable');
  }
}

/** Fetching an imported cache's layers (or a cache mount's contents) from `source` failed. */
export class CacheImportError extends Error {
  readonly code = 'KILN_CACHE_IMPORT' as const;
  readonly kind: ErrorKind;
  constructor(
    readonly source: string,
    readonly what: string,
    options: { cause: unknown },
  ) {
    super(`failed to fetch ${what} from the imported cache ${source}: ${detail(options.cause)}`, {
      cause: options.cause,
    });
    this.name = 'CacheImportError';
    this.kind = kindOf(options.cause, 'unavailable');
  }
}

/** A layer of an imported cache is not where the cache said (no source holds the blob). */
export class CacheBlobMissingError extends Error {
  readonly code = 'KILN_CACHE_BLOB_MISSING' as const;
  readonly kind: ErrorKind = 'not-found';
  constructor(readonly digest: string) {
    super(`blob ${digest} is in no local store and no imported cache of this build`);
    this.name = 'CacheBlobMissingError';
  }
}
