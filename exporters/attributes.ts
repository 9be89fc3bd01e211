import type { Compression } from '../oci/index.js';
import { AnnotationSet } from './annotations.js';
import { ExporterRequestError } from './errors.js';

type Attrs = Readonly<Record<string, string>>;

/** How an image is written: media types, layer compression, annotations, timestamps. */
export interface ImageCommitOptions {
  /** Names from `name` (comma-separated), in order; empty when none was given. */
  readonly names: readonly string[];
  readonly oci: boolean;
  readonly compression: Compression;
  readonly level: number | undefined;
  /** Recompress layers whose existing blob has another compression (`force-compression`). */
  readonly force: boolean;
  readonly annotations: AnnotationSet;
  /** SOURCE_DATE_EPOCH in seconds: clamps config and history times. */
  readonly epoch: number | undefined;
  /** Also clamp file mtimes inside new layers to `epoch` (`rewrite-timestamp`). */
  readonly rewriteTimestamp: boolean;
  /**
   * Attach attestations asked for as inline-only to a single-platform image
   * (`attestation-inline`; BuildKit's default is true for `image`, false for `oci`/`docker`).
   */
  readonly inlineAttestations: boolean;
}

/** The `image` exporter's options (and `oci`/`docker`'s, with `tar`). */
export interface ImageOptions extends ImageCommitOptions {
  readonly push: boolean;
  readonly pushByDigest: boolean;
  readonly insecure: boolean;
  readonly nameCanonical: boolean;
  readonly danglingPrefix: string | undefined;
  /** `oci`/`docker`: a tarball through FileSend (true) or the client's content store (false). */
  readonly tar: boolean;
}

/** Go's strconv.ParseBool, with BuildKit's rule that an empty value means true. */
export function parseBool(attrs: Attrs, key: string, fallback: boolean): boolean {
  const value = attrs[key];
  if (value === undefined) return fallback;
  if (value === '') return true;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new ExporterRequestError(`${key} must be true or false, got ${JSON.stringify(value)}`, {
    attribute: key,
  });
}

function parseInt10(key: string, value: string): number {
  if (!/^-?\d+$/.test(value.trim())) {
    throw new ExporterRequestError(`${key} must be an integer, got ${JSON.stringify(value)}`, {
      attribute: key,
    });
  }
  return Number(value.trim());
}

function parseCompression(value: string | undefined): Compression {
  switch (value ?? 'gzip') {
    case '':
    case 'gzip':
      return 'gzip';
    case 'zstd':
      return 'zstd';
    case 'uncompressed':
      return 'uncompressed';
    case 'estargz':
      throw new ExporterRequestError('compression=estargz is not supported by kiln; use gzip or zstd', {
        attribute: 'compression',
      });
    default:
      throw new ExporterRequestError(
        `compression must be gzip, zstd or uncompressed, got ${JSON.stringify(value)}`,
        { attribute: 'compression' },
      );
  }
}

function parseLevel(value: string | undefined, compression: Compression): number | undefined {
  if (value === undefined || value === '' || compression === 'uncompressed') return undefined;
  const level = parseInt10('compression-level', value);
  const [min, max] = compression === 'gzip' ? [0, 9] : [1, 22];
  if (level < min || level > max) {
    throw new ExporterRequestError(
      `compression-level ${level} is out of range for ${compression} (${min}–${max})`,
      { attribute: 'compression-level' },
    );
  }
  return level;
}

/**
 * SOURCE_DATE_EPOCH for an output: the `source-date-epoch` attribute, else the frontend's
 * `build-arg:SOURCE_DATE_EPOCH` (BuildKit copies it into the exporter's attributes), else the
 * frontend's `source.date.epoch` metadata. Undefined when none is set or the value is empty.
 */
export function sourceDateEpoch(
  attrs: Attrs,
  frontendAttrs: Attrs,
  metadata: ReadonlyMap<string, Uint8Array>,
): number | undefined {
  const fromMeta = metadata.get('source.date.epoch');
  const raw =
    attrs['source-date-epoch'] ??
    frontendAttrs['build-arg:SOURCE_DATE_EPOCH'] ??
    (fromMeta ? Buffer.from(fromMeta).toString('utf8') : undefined);
  if (raw === undefined || raw === '') return undefined;
  return parseInt10('source-date-epoch', raw);
}

/**
 * Parses an image-like output's attributes. `defaultOci` is the exporter's default media types
 * (Docker for `image` and `docker`, OCI for `oci`). zstd layers and index or descriptor
 * annotations force OCI media types, as in BuildKit. Unknown attributes are ignored (BuildKit
 * passes them on as metadata). Throws ExporterRequestError.
 */
export function parseImageOptions(
  attrs: Attrs,
  context: {
    defaultOci: boolean;
    /** Default of `attestation-inline` (true when absent: the `image` exporter's). */
    defaultInlineAttestations?: boolean;
    frontendAttrs: Attrs;
    metadata: ReadonlyMap<string, Uint8Array>;
  },
): ImageOptions {
  const compression = parseCompression(attrs['compression']);
  const annotations = new AnnotationSet()
    .add([...context.metadata].map(([k, v]): [string, string] => [k, Buffer.from(v).toString('utf8')]))
    .add(Object.entries(attrs));
  const oci = parseBool(attrs, 'oci-mediatypes', context.defaultOci) || compression === 'zstd';
  return {
    names: (attrs['name'] ?? '').split(',').filter((n) => n !== ''),
    oci: oci || annotations.needsOci(),
    compression,
    level: parseLevel(attrs['compression-level'], compression),
    force: parseBool(attrs, 'force-compression', false),
    annotations,
    epoch: sourceDateEpoch(attrs, context.frontendAttrs, context.metadata),
    rewriteTimestamp: parseBool(attrs, 'rewrite-timestamp', false),
    inlineAttestations: parseBool(attrs, 'attestation-inline', context.defaultInlineAttestations ?? true),
    push: parseBool(attrs, 'push', false),
    pushByDigest: parseBool(attrs, 'push-by-digest', false),
    insecure: parseBool(attrs, 'registry.insecure', false),
    nameCanonical: parseBool(attrs, 'name-canonical', false),
    danglingPrefix: attrs['dangling-name-prefix'] || undefined,
    tar: parseBool(attrs, 'tar', true),
  };
}
