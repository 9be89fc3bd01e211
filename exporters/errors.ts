import type { ErrorKind } from '../oci/index.js';

function kindOf(cause: unknown, fallback: ErrorKind): ErrorKind {
  const kind = (cause as { kind?: unknown } | null)?.kind;
  return typeof kind === 'string' ? (kind as ErrorKind) : fallback;
}

/** An `--output` attribute kiln cannot accept as given (bad value, unknown combination). */
export class ExporterRequestError extends Error {
  readonly code = 'KILN_EXPORTERS_BAD_REQUEST' as const;
  readonly kind: ErrorKind = 'invalid-argument';
  /** The attribute at fault, when one is. */
  readonly attribute: string | undefined;
  constructor(message: string, options: { attribute?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ExporterRequestError';
    this.attribute = options.attribute;
  }
}

/** An exporter type kiln does not implement. */
export class UnsupportedExporterError extends Error {
  readonly code = 'KILN_EXPORTERS_UNSUPPORTED' as const;
  readonly kind: ErrorKind = 'unimplemented';
  constructor(readonly type: string) {
    super(`exporter ${JSON.stringify(type)} is not supported (kiln knows image, oci, docker, local and tar)`);
    this.name = 'UnsupportedExporterError';
  }
}

/** The build result does not fit the output: a platform missing from it, several for `docker`, a bad config. */
export class ResultShapeError extends Error {
  readonly code = 'KILN_EXPORTERS_RESULT_SHAPE' as const;
  readonly kind: ErrorKind;
  constructor(message: string, options: { kind?: ErrorKind; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ResultShapeError';
    this.kind = options.kind ?? 'invalid-argument';
  }
}

/** Pushing an exported image to `name` failed; `kind` is the registry error's. */
export class ImagePushError extends Error {
  readonly code = 'KILN_EXPORTERS_PUSH' as const;
  readonly kind: ErrorKind;
  constructor(
    readonly imageName: string,
    options: { cause: unknown },
  ) {
    const detail = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`failed to push ${imageName}: ${detail}`, { cause: options.cause });
    this.name = 'ImagePushError';
    this.kind = kindOf(options.cause, 'unavailable');
  }
}

/** The client's content store (`--output type=oci,tar=false`) refused or broke a write. */
export class ClientStoreError extends Error {
  readonly code = 'KILN_EXPORTERS_CLIENT_STORE' as const;
  readonly kind: ErrorKind;
  constructor(
    message: string,
    readonly digest: string,
    options: { cause?: unknown; kind?: ErrorKind } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'ClientStoreError';
    this.kind = options.kind ?? kindOf(options.cause, 'unavailable');
  }
}

/** A layer tar that cannot be rewritten (truncated, bad header checksum). Internal: kiln wrote it. */
export class LayerRewriteError extends Error {
  readonly code = 'KILN_EXPORTERS_LAYER_REWRITE' as const;
  readonly kind: ErrorKind = 'internal';
  constructor(
    readonly snapshot: string,
    readonly reason: string,
  ) {
    super(`cannot rewrite timestamps in the layer of snapshot ${snapshot}: ${reason}`);
    this.name = 'LayerRewriteError';
  }
}
