import { isDigest, parseReference, type Compression, type Digest } from '../../oci/index.js';
import type { CacheOptionEntry } from '../../solver/index.js';
import { parseBool, parseImageOptions } from '../attributes.js';
import { CacheOptionError, UnsupportedCacheError } from './errors.js';

/** `min`: the chains of the exported result; `max`: every step of the build. */
export type CacheMode = 'min' | 'max';

/** How layers of an exported cache are written. */
export interface CacheLayerOptions {
  readonly compression: Compression;
  readonly level: number | undefined;
  readonly force: boolean;
  /** OCI media types (default) or Docker's. */
  readonly oci: boolean;
}

interface ExportCommon extends CacheLayerOptions {
  readonly mode: CacheMode;
  readonly ignoreError: boolean;
  /** kiln extension: also export the contents of the build's `RUN --mount=type=cache` directories. */
  readonly cacheMounts: boolean;
}

/** One `--export-cache` entry, parsed. */
export type CacheExportOptions =
  | (ExportCommon & {
      readonly type: 'registry';
      readonly ref: string;
      readonly imageManifest: boolean;
      readonly insecure: boolean;
    })
  | (ExportCommon & { readonly type: 'local'; readonly dest: string; readonly imageManifest: boolean })
  | (ExportCommon & { readonly type: 'inline' });

/** One `--import-cache` entry, parsed. */
export type CacheImportOptions =
  | {
      readonly type: 'registry';
      readonly ref: string;
      readonly insecure: boolean;
      readonly cacheMounts: boolean;
    }
  | { readonly type: 'local'; readonly src: string; readonly digest: Digest; readonly cacheMounts: boolean };

type Attrs = Readonly<Record<string, string>>;

function required(attrs: Attrs, key: string, type: string): string {
  const value = attrs[key];
  if (!value) throw new CacheOptionError(`cache type ${type} needs the attribute ${key}`, key);
  return value;
}

function checkedRef(ref: string, key: string): string {
  try {
    parseReference(ref);
  } catch (cause) {
    throw new CacheOptionError(
      `${key}=${JSON.stringify(ref)} is not an image reference: ${(cause as Error).message}`,
      key,
    );
  }
  return ref;
}

function mode(attrs: Attrs): CacheMode {
  const value = attrs['mode'] ?? 'min';
  if (value === 'min' || value === 'max' || value === '') return value === 'max' ? 'max' : 'min';
  throw new CacheOptionError(`invalid cache mode ${JSON.stringify(value)}: expected min or max`, 'mode');
}

/**
 * Parses an `--export-cache` entry as buildctl sends it (attribute names and defaults of BuildKit:
 * `mode=min`, `oci-mediatypes=true`, gzip). Throws CacheOptionError, ExporterRequestError (bad
 * boolean or compression) and UnsupportedCacheError.
 */
export function parseCacheExport(entry: CacheOptionEntry): CacheExportOptions {
  const { attrs } = entry;
  const image = parseImageOptions(
    { ...attrs, 'oci-mediatypes': attrs['oci-mediatypes'] ?? 'true' },
    { defaultOci: true, frontendAttrs: {}, metadata: new Map() },
  );
  const common: ExportCommon = {
    mode: mode(attrs),
    compression: image.compression,
    level: image.level,
    force: image.force,
    oci: image.oci,
    ignoreError: parseBool(attrs, 'ignore-error', false),
    cacheMounts: parseBool(attrs, 'cache-mounts', false),
  };
  const imageManifest = parseBool(attrs, 'image-manifest', false);
  if (imageManifest && !common.oci) {
    throw new CacheOptionError(
      'image-manifest=true needs OCI media types (oci-mediatypes=true)',
      'image-manifest',
    );
  }
  switch (entry.type) {
    case 'registry':
      return {
        ...common,
        type: 'registry',
        ref: checkedRef(required(attrs, 'ref', 'registry'), 'ref'),
        imageManifest,
        insecure: parseBool(attrs, 'registry.insecure', false),
      };
    case 'local':
      return { ...common, type: 'local', dest: required(attrs, 'dest', 'local'), imageManifest };
    case 'inline':
      return { ...common, mode: 'min', type: 'inline' };
    default:
      throw new UnsupportedCacheError(entry.type, 'export');
  }
}

/**
 * Parses an `--import-cache` entry. `type=local` needs `digest`, which buildctl adds after
 * reading `src/index.json` itself. Throws CacheOptionError, ExporterRequestError and
 * UnsupportedCacheError.
 */
export function parseCacheImport(entry: CacheOptionEntry): CacheImportOptions {
  const { attrs } = entry;
  const cacheMounts = parseBool(attrs, 'cache-mounts', true);
  switch (entry.type) {
    case 'registry':
      return {
        type: 'registry',
        ref: checkedRef(required(attrs, 'ref', 'registry'), 'ref'),
        insecure: parseBool(attrs, 'registry.insecure', false),
        cacheMounts,
      };
    case 'local': {
      const src = required(attrs, 'src', 'local');
      const digest = required(attrs, 'digest', 'local');
      if (!isDigest(digest)) {
        throw new CacheOptionError(`digest=${JSON.stringify(digest)} is not a sha256 digest`, 'digest');
      }
      return { type: 'local', src, digest: digest as Digest, cacheMounts };
    }
    default:
      throw new UnsupportedCacheError(entry.type, 'import');
  }
}
