import {
  isIndexMediaType,
  isManifestMediaType,
  layerCompression,
  layerMediaType,
  MediaType,
  sha256,
  type Descriptor,
} from '../../oci/index.js';
import { descriptorJson, goJson } from '../go-json.js';
import { CacheFormatError } from './errors.js';

/** The top level of an exported cache: what the registry tag (or `cache.manifest`) names. */
export interface CacheIndex {
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
}

/** A layer descriptor with the media type the export asked for (foreign layers keep theirs). */
export function exportedMediaType(descriptor: Descriptor, oci: boolean): Descriptor {
  const compression = layerCompression(descriptor.mediaType);
  if (compression === undefined || descriptor.mediaType === MediaType.dockerForeignLayerGzip)
    return descriptor;
  return { ...descriptor, mediaType: layerMediaType(compression, oci) };
}

/**
 * The cache's top level in one of BuildKit's two layouts: an index whose `manifests` are the
 * layer blobs followed by the cache config (the default, readable by every BuildKit), or with
 * `imageManifest` an OCI image manifest whose config is the cache config (BuildKit ≥ 0.12,
 * needed by registries that refuse such indexes, e.g. ECR).
 */
export function cacheIndex(
  layers: readonly Descriptor[],
  config: Descriptor,
  options: { readonly oci: boolean; readonly imageManifest: boolean },
): CacheIndex {
  let mediaType: string;
  let body: Record<string, unknown>;
  if (options.imageManifest) {
    mediaType = MediaType.ociManifest;
    body = {
      schemaVersion: 2,
      mediaType,
      config: descriptorJson(config),
      layers: layers.map(descriptorJson),
    };
  } else {
    mediaType = options.oci ? MediaType.ociIndex : MediaType.dockerManifestList;
    body = { schemaVersion: 2, mediaType, manifests: [...layers, config].map(descriptorJson) };
  }
  const bytes = Buffer.from(goJson(body));
  return { descriptor: { mediaType, digest: sha256(bytes), size: bytes.length }, bytes };
}

/** What a cache reference resolved to. */
export type ParsedTop =
  /** A cache: its config blob and the layer blobs it may name. */
  | { readonly kind: 'cache'; readonly config: Descriptor; readonly layers: readonly Descriptor[] }
  /** An image (or image index): its configs may carry an inline cache. */
  | { readonly kind: 'images'; readonly manifests: readonly Descriptor[] };

function json(bytes: Uint8Array, source: string): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch (cause) {
    throw new CacheFormatError(source, 'the manifest is not JSON', { cause });
  }
  throw new CacheFormatError(source, 'the manifest is not a JSON object');
}

function descriptors(value: unknown, what: string, source: string): Descriptor[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new CacheFormatError(source, `${what} is not an array`);
  return value.map((d, i) => {
    const o = d as Partial<Descriptor> | null;
    if (!o || typeof o.digest !== 'string' || typeof o.mediaType !== 'string' || typeof o.size !== 'number') {
      throw new CacheFormatError(source, `${what}[${i}] is not a descriptor`);
    }
    return o as Descriptor;
  });
}

/**
 * Reads a cache reference's top level: an index listing a cache config (or an image manifest
 * whose config is one) is a cache; any other index or manifest is an image whose configs may
 * hold an inline cache. Throws CacheFormatError.
 */
export function parseCacheTop(bytes: Uint8Array, mediaType: string, source: string): ParsedTop {
  const body = json(bytes, source);
  const type = typeof body['mediaType'] === 'string' ? body['mediaType'] : mediaType;
  if (isIndexMediaType(type) || (Array.isArray(body['manifests']) && !body['config'])) {
    const all = descriptors(body['manifests'], 'manifests', source);
    const config = all.find((d) => d.mediaType === MediaType.buildkitCacheConfig);
    if (config) return { kind: 'cache', config, layers: all.filter((d) => d !== config) };
    return { kind: 'images', manifests: all.filter((d) => isManifestMediaType(d.mediaType)) };
  }
  const config = body['config'] as Descriptor | undefined;
  if (!config || typeof config.digest !== 'string') {
    throw new CacheFormatError(source, `neither an index nor a manifest (media type ${type})`);
  }
  if (config.mediaType === MediaType.buildkitCacheConfig) {
    return { kind: 'cache', config, layers: descriptors(body['layers'], 'layers', source) };
  }
  return {
    kind: 'images',
    manifests: [{ mediaType: type, digest: sha256(Buffer.from(bytes)), size: bytes.length }],
  };
}
