import { isDigest, MediaType, type Descriptor, type Digest } from '../../oci/index.js';
import type { BlobSource } from './blob-source.js';
import { BuildKitRecords } from './buildkit-keys.js';
import {
  layerChain,
  parseCacheConfig,
  parseRecords,
  type CacheConfig,
  type CacheLayer,
  type CacheMountEntry,
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
  /** BuildKit's record graph (roots by digest, the rest by links from their inputs). */
  readonly graph: BuildKitRecords;
  /** The usable result chain of a record of `graph`. */
  resultOf(record: number): readonly ImportedLayer[] | undefined;
}

const uncompressedAnnotation = 'containerd.io/uncompressed';
/** Image indexes with more platforms than this are not searched for inline caches. */
const maxInlineManifests = 32;

function withDiffId(descriptor: Descriptor, diffId?: string): ImportedLayer | undefined {
  const d = diffId ?? descriptor.annotations?.[uncompressedAnnotation];
  return d && isDigest(d) ? { descriptor, diffId: d } : undefined;
}

/** Several configs (an image's per-platform inline caches) as one, indexes shifted. */
class MergedConfig {
  readonly layers: CacheLayer[] = [];
  readonly records: CacheRecord[] = [];
  readonly imported: Array<ImportedLayer | undefined> = [];
  readonly mounts: CacheMountEntry[] = [];

  add(config: CacheConfig, imported: ReadonlyArray<ImportedLayer | undefined>): void {
    const l = this.layers.length;
    const r = this.records.length;
    for (const layer of config.layers)
      this.layers.push({ ...layer, parent: layer.parent === -1 ? -1 : layer.parent + l });
    this.imported.push(...imported);
    for (const record of config.records) {
      this.records.push({
        digest: record.digest,
        ...(record.results ? { results: record.results.map((x) => ({ ...x, layer: x.layer + l })) } : {}),
        ...(record.chains
          ? { chains: record.chains.map((c) => ({ ...c, layers: c.layers.map((i) => i + l) })) }
          : {}),
        ...(record.inputs
          ? { inputs: record.inputs.map((alts) => alts.map((a) => ({ ...a, link: a.link + r }))) }
          : {}),
      });
    }
    for (const m of config.cacheMounts ?? []) this.mounts.push({ ...m, layer: m.layer + l });
  }

  loaded(): LoadedCache {
    const config: CacheConfig = { layers: this.layers, records: this.records, cacheMounts: this.mounts };
    const blobs = new Map<string, ImportedLayer>();
    for (const l of this.imported) if (l) blobs.set(l.descriptor.digest, l);
    const resolve = (indexes: readonly number[]): ImportedLayer[] | undefined => {
      const out: ImportedLayer[] = [];
      for (const i of indexes) {
        const l = this.imported[i];
        if (!l) return undefined;
        out.push(l);
      }
      return out.length > 0 ? out : undefined;
    };
    const resultOf = (index: number): ImportedLayer[] | undefined => {
      const record = this.records[index];
      if (!record) return undefined;
      for (const r of record.results ?? []) {
        const chain = resolve(layerChain(config, r.layer));
        if (chain) return chain;
      }
      for (const c of record.chains ?? []) {
        const chain = resolve(c.layers);
        if (chain) return chain;
      }
      return undefined;
    };
    const results = new Map<string, readonly ImportedLayer[]>();
    this.records.forEach((record, i) => {
      if (!record.digest || results.has(record.digest)) return;
      const chain = resultOf(i);
      if (chain) results.set(record.digest, chain);
    });
    const mounts = new Map<string, ImportedLayer>();
    for (const m of this.mounts) {
      const l = this.imported[m.layer];
      if (l && !mounts.has(m.id)) mounts.set(m.id, l);
    }
    return {
      results,
      blobs,
      mounts,
      records: this.records.length,
      graph: new BuildKitRecords(config),
      resultOf,
    };
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
  const merged = new MergedConfig();
  if (parsed.kind === 'cache') {
    if (parsed.config.size > 64 << 20) {
      throw new CacheFormatError(source.name, `cache config is ${parsed.config.size} bytes`);
    }
    const config = parseCacheConfig(await source.readSmall(parsed.config, signal), source.name);
    const byDigest = new Map(parsed.layers.map((d) => [d.digest, d]));
    merged.add(
      config,
      config.layers.map((l) => {
        const d = byDigest.get(l.blob);
        return d ? withDiffId(d) : undefined;
      }),
    );
  } else {
    const manifests = parsed.manifests
      .filter((m) => m.mediaType === MediaType.ociManifest || m.mediaType === MediaType.dockerManifest)
      .slice(0, maxInlineManifests);
    const found = await Promise.all(manifests.map((m) => inlineCache(source, m, signal)));
    for (const inline of found) if (inline) merged.add(inline.config, inline.layers);
  }
  return merged.loaded();
}
