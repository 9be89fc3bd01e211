import type { Logger } from 'pino';
import type { ContentStore } from '../../content/index.js';
import { MediaType, parseReference, sha256, type Digest, type Platform } from '../../oci/index.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import type { BuildResult, BuiltVertex, CacheMounts, Job, ResultRef } from '../../solver/index.js';
import type { RegistrySource } from '../context.js';
import { goTime } from '../go-json.js';
import { layerPolicy, type LayerExporter } from '../layers.js';
import type { CacheExportOptions } from './attributes.js';
import { addBuildKitRecords } from './buildkit-records.js';
import { marshalCacheConfig, sortConfig, type CacheConfig } from './cache-config.js';
import { cacheIndex } from './cache-index.js';
import { exportCacheMounts, usedCacheMounts, type ExportedCacheMount } from './cache-mounts.js';
import { ChainResolver, ConfigBuilder, positionOn, type ChainLayer } from './chains.js';
import { CacheBlobMissingError } from './errors.js';
import { ImportedCache } from './imported-cache.js';
import type { CacheBlob, CacheBundle } from './targets.js';

/** What gathering an export needs. */
export interface BundleDeps {
  readonly snapshotter: LocalSnapshotter;
  readonly content: ContentStore;
  readonly registries: RegistrySource;
  readonly layers: LayerExporter;
  readonly cacheMounts?: CacheMounts;
  readonly defaultPlatform: Platform;
  readonly logger?: Logger;
}

/** What a build hands the cache export: its result and every settled step. */
export interface BuildCache {
  readonly job: Job;
  readonly result: BuildResult;
  readonly vertices: readonly BuiltVertex[];
}

const annotationUncompressed = 'containerd.io/uncompressed';
const annotationCreatedAt = 'buildkit/createdat';

/**
 * Gathers what an export writes: the chains of the steps the mode selects (mode=min: results on
 * the chains of the build's result; mode=max: every step), kiln's keys and BuildKit's where it
 * can compute them, cache mount contents when asked, the config and the top level. Cost: linear
 * in the steps (see ChainResolver); new layer blobs are computed once and remembered.
 */
export async function cacheBundle(
  deps: BundleDeps,
  options: CacheExportOptions,
  build: BuildCache,
  lease: string,
): Promise<CacheBundle> {
  const { job, result, vertices } = build;
  const policy = layerPolicy(options, lease, { signal: job.signal });
  const resolver = new ChainResolver({ layers: deps.layers, snapshotter: deps.snapshotter, policy });
  const outputs = keyedRefs(vertices, result);
  const finals = [...(result.ref ? [result.ref] : []), ...(result.refs?.values() ?? [])];
  const builder = new ConfigBuilder();
  const chainOf = new Map<ResultRef, readonly ChainLayer[]>();
  if (options.mode === 'max') {
    const chains = await resolver.chains(outputs.map((o) => o.ref));
    for (const o of outputs) {
      const chain = chains.get(o.ref);
      if (!chain) continue;
      builder.addKeyed(o.key, chain);
      chainOf.set(o.ref, chain);
    }
  } else {
    const finalChains = [...(await resolver.chains(finals)).values()].filter((c) => c !== undefined);
    for (const o of outputs) {
      for (const chain of finalChains) {
        const at = positionOn(o.ref, chain);
        if (at === undefined) continue;
        builder.addKeyed(o.key, chain.slice(0, at + 1));
        chainOf.set(o.ref, chain.slice(0, at + 1));
        break;
      }
    }
  }
  await addBuildKitRecords(builder, vertices, {
    defaultPlatform: deps.defaultPlatform,
    topLevel: (ref) => topLevel(deps, ref, job),
    chainOf: (ref) => chainOf.get(ref),
  });
  let mounts: ExportedCacheMount[] = [];
  if (options.cacheMounts && deps.cacheMounts) {
    mounts = await exportCacheMounts({
      used: usedCacheMounts(vertices.map((v) => v.op)),
      cacheMounts: deps.cacheMounts,
      imported: importedCaches(job),
      content: deps.content,
      layer: options,
      lease,
      signal: job.signal,
    });
  }
  const cacheMounts = mounts.map((m) => ({
    id: m.id,
    layer: builder.addLayer(m.layer),
    ...(m.platform ? { platform: m.platform } : {}),
  }));
  const blobs = builder.blobs;
  const full: CacheConfig = { ...builder.config(), ...(cacheMounts.length > 0 ? { cacheMounts } : {}) };
  const sorted = sortConfig(full);
  const configBytes = marshalCacheConfig(sorted);
  const configDesc = {
    mediaType: MediaType.buildkitCacheConfig,
    digest: sha256(configBytes),
    size: configBytes.length,
  };
  const domain = options.type === 'registry' ? parseReference(options.ref).domain : undefined;
  const ordered = [...new Set(sorted.layers.map((l) => l.blob))].map((digest) => blobs.get(digest)!);
  const cacheBlobs = await Promise.all(ordered.map((layer) => cacheBlob(deps, layer, job, domain)));
  return {
    blobs: cacheBlobs,
    config: { descriptor: configDesc, bytes: configBytes },
    index: cacheIndex(
      cacheBlobs.map((b) => b.descriptor),
      configDesc,
      { oci: options.oci, imageManifest: 'imageManifest' in options && options.imageManifest },
    ),
  };
}

/** The top-level digest `ref` resolved to: remembered from the build's image source, else asked. */
export async function topLevel(
  deps: Pick<BundleDeps, 'registries' | 'content' | 'logger'>,
  ref: string,
  job: Job,
): Promise<Digest | undefined> {
  try {
    const client = deps.registries.forSessions(job.sessionIds);
    const resolved = await client.resolve(ref, {
      mode: 'local',
      store: deps.content,
      signal: job.signal,
    });
    return resolved.descriptor.digest;
  } catch (err) {
    job.signal.throwIfAborted();
    deps.logger?.debug({ err, ref }, 'no BuildKit key for an image the registry does not resolve');
    return undefined;
  }
}

/** How to read a layer blob: from the content store, else from an imported cache holding it. */
async function cacheBlob(
  deps: BundleDeps,
  layer: ChainLayer,
  job: Job,
  domain: string | undefined,
): Promise<CacheBlob> {
  const { content } = deps;
  const descriptor = {
    ...layer.descriptor,
    annotations: { [annotationCreatedAt]: goTime(layer.createdAt), [annotationUncompressed]: layer.diffId },
  };
  const digest = layer.descriptor.digest;
  const info = await content.info(digest).catch(() => undefined);
  const mountFrom = (info?.labels[`containerd.io/distribution.source.${domain}`] ?? '')
    .split(',')
    .filter((r) => r !== '' && domain !== undefined)
    .map((r) => `${domain}/${r}`);
  if (info) {
    return {
      descriptor,
      mountFrom,
      open: (offset) => content.reader(digest, { offset, signal: job.signal }),
    };
  }
  for (const cache of importedCaches(job)) {
    if (!(await cache.blob(digest))) continue;
    const repo = cache.source.repository;
    return {
      descriptor,
      mountFrom: repo && repo.domain === domain ? [...mountFrom, `${repo.domain}/${repo.path}`] : mountFrom,
      open: async (offset) => cache.openBlob(layer.descriptor, { offset, signal: job.signal }),
    };
  }
  throw new CacheBlobMissingError(digest);
}

export function importedCaches(job: Job): ImportedCache[] {
  return job.remoteCaches.filter((c): c is ImportedCache => c instanceof ImportedCache);
}

/** Every (key, result) of the build: each step's outputs, and the result's own keys. */
function keyedRefs(
  vertices: readonly BuiltVertex[],
  result: BuildResult,
): Array<{ key: string; ref: ResultRef }> {
  const out = new Map<string, ResultRef>();
  for (const v of vertices) v.keys.forEach((key, i) => out.set(key, v.refs[i]!));
  for (const [platform, key] of result.keys) {
    const ref = platform === '' ? result.ref : result.refs?.get(platform);
    if (ref && !out.has(key)) out.set(key, ref);
  }
  return [...out].map(([key, ref]) => ({ key, ref }));
}
