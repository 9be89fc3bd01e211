import { isDigest, MediaType, type Descriptor, type Digest } from '../../oci/index.js';
import type { BlobSource } from './blob-source.js';
import {
  layerChain,
  parseCacheConfig,
  parseRecords,
  type CacheConfig,
  type CacheRecord,
} from './cache-config.js';
import { parseCacheTop } from './cache-index.js';
import { CacheFormatError } from './errors.js';

/** One layer of an imported result, with the uncompressed digest unpacking checks. */
export interface ImportedLayer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
}

/** An imported cache, indexed for lookups: results by cache key, cache mounts by id. */
export interface LoadedCache {
  /** The layer chain (base first) of each key that has a usable result. */
  readonly results: ReadonlyMap<string, readonly ImportedLayer[]>;
  /** Every blob the cache lists. */
  readonly blobs: ReadonlyMap<string, ImportedLayer>;
  readonly mounts: ReadonlyMap<string, ImportedLayer>;
  /** Records read (with or without results): BuildKit's intermediate keys count too. */
  readonly records: number;
}

const uncompressedAnnotation = 'containerd.io/uncompressed';
/** Image indexes with more platforms than this are not searched for inline caches. */
const maxInlineManifests = 32;

function withDiffId(descriptor: Descriptor, diffId?: string): ImportedLayer | undefined {
  const d = diffId ?? descriptor.annotations?.[uncompressedAnnotation];
  return d && isDigest(d) ? { descriptor, diffId: d } : undefined;
}

/** Indexes records whose every layer has a descriptor with a diffID; the first usable result wins. */
function index(
  config: CacheConfig,
  layers: ReadonlyArray<ImportedLayer | undefined>,
  into: {
    results: Map<string, readonly ImportedLayer[]>;
    blobs: Map<string, ImportedLayer>;
    mounts: Map<string, ImportedLayer>;
  },
): void {
  for (const l of layers) if (l) into.blobs.set(l.descriptor.digest, l);
  const resolve = (indexes: readonly number[]): ImportedLayer[] | undefined => {
    const out: ImportedLayer[] = [];
    for (const i of indexes) {
      const l = layers[i];
      if (!l) return undefined;
      out.push(l);
    }
    return out;
  };
  for (const record of config.records) {
    if (!record.digest || into.results.has(record.digest)) continue;
    const candidates = [
      ...(record.results ?? []).map((r) => layerChain(config, r.layer)),
      ...(record.chains ?? []).map((c) => c.layers),
    ];
    for (const candidate of candidates) {
      const chain = resolve(candidate);
      if (chain && chain.length > 0) {
        into.results.set(record.digest, chain);
        break;
      }
    }
  }
  for (const m of config.cacheMounts ?? []) {
    const l = layers[m.layer];
    if (l && !into.mounts.has(m.id)) into.mounts.set(m.id, l);
  }
}

function parseJson(bytes: Buffer, what: string, source: string): Record<string, unknown> {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (cause) {
    throw new CacheFormatError(source, `${what} is not JSON`, { cause });
  }
  throw new CacheFormatError(source, `${what} is not a JSON object`);
}

/**
 * The inline cache of one image manifest (`moby.buildkit.cache.v0` in its config: base64 of a
 * records array whose layer indexes are the image's layers, each stacked on the previous).
 */
async function inlineCache(
  source: BlobSource,
  manifest: Descriptor,
  signal: AbortSignal | undefined,
): Promise<{ config: CacheConfig; layers: ImportedLayer[] } | undefined> {
  const body = parseJson(
    await source.readSmall(manifest, signal),
    `manifest ${manifest.digest}`,
    source.name,
  );
  const configDesc = body['config'] as Descriptor | undefined;
  const imageLayers = (body['layers'] ?? []) as Descriptor[];
  if (!configDesc?.digest || !Array.isArray(imageLayers) || imageLayers.length === 0) return undefined;
  const config = parseJson(
    await source.readSmall(configDesc, signal),
    `config ${configDesc.digest}`,
    source.name,
  );
  const inline = config['moby.buildkit.cache.v0'];
  const diffIds = ((config['rootfs'] as { diff_ids?: unknown } | undefined)?.diff_ids ?? []) as string[];
  if (typeof inline !== 'string' || !Array.isArray(diffIds) || diffIds.length !== imageLayers.length)
    return undefined;
  let records: CacheRecord[];
  try {
    records = parseRecords(JSON.parse(Buffer.from(inline, 'base64').toString('utf8')), source.name);
  } catch (cause) {
    if (cause instanceof CacheFormatError) throw cause;
    throw new CacheFormatError(source.name, `the inline cache of ${manifest.digest} is not JSON`, { cause });
  }
  const layers = imageLayers.map((d, i) => withDiffId(d, diffIds[i]));
  if (layers.some((l) => l === undefined)) return undefined;
  return {
    config: { layers: imageLayers.map((d, i) => ({ blob: d.digest, parent: i - 1 })), records },
    layers: layers as ImportedLayer[],
  };
}

/**
 * Reads a cache from `source`: the top level, then the cache config (or, for an image, the inline
 * caches of its configs, every platform's merged). Cost: two or three small reads; no layer is
 * fetched. Throws CacheFormatError and the source's errors (registry, session).
 */
export async function loadCache(source: BlobSource, signal?: AbortSignal): Promise<LoadedCache> {
  const top = await source.top(signal);
  const parsed = parseCacheTop(top.bytes, top.mediaType, source.name);
  const into = {
    results: new Map<string, readonly ImportedLayer[]>(),
    blobs: new Map<string, ImportedLayer>(),
    mounts: new Map<string, ImportedLayer>(),
  };
  let records = 0;
  if (parsed.kind === 'cache') {
    if (parsed.config.size > 64 << 20) {
      throw new CacheFormatError(source.name, `cache config is ${parsed.config.size} bytes`);
    }
    const config = parseCacheConfig(await source.readSmall(parsed.config, signal), source.name);
    const byDigest = new Map(parsed.layers.map((d) => [d.digest, d]));
    const layers = config.layers.map((l) => {
      const d = byDigest.get(l.blob);
      return d ? withDiffId(d) : undefined;
    });
    index(config, layers, into);
    records = config.records.length;
  } else {
    const manifests = parsed.manifests
      .filter((m) => m.mediaType === MediaType.ociManifest || m.mediaType === MediaType.dockerManifest)
      .slice(0, maxInlineManifests);
    const found = await Promise.all(manifests.map((m) => inlineCache(source, m, signal)));
    for (const inline of found) {
      if (!inline) continue;
      index(inline.config, inline.layers, into);
      records += inline.config.records.length;
    }
  }
  return { ...into, records };
}
