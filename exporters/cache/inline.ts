import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContentStore } from '../../content/index.js';
import type { Digest, Platform } from '../../oci/index.js';
import {
  materialized,
  type BuildResult,
  type BuiltVertex,
  type ExporterRequest,
  type ExportRunner,
  type Job,
  type OpOutput,
  type ResultRef,
} from '../../solver/index.js';
import { parseImageOptions } from '../attributes.js';
import { asVertex } from '../context.js';
import { defaultImageConfig } from '../image-config.js';
import { layerPolicy, type LayerExporter } from '../layers.js';
import { platformMetadata, resultPlatforms } from '../platforms.js';
import { addBuildKitRecords, type BuildKitRecordOptions } from './buildkit-records.js';
import { marshalRecords, sortRecords, type CacheRecord } from './cache-config.js';
import { ConfigBuilder, positionOn, type ChainLayer } from './chains.js';

/** The image config key BuildKit keeps an inline cache under (base64 of the records array). */
export const inlineCacheKey = 'moby.buildkit.cache.v0';

const imageLike = new Set(['image', 'oci', 'docker']);
const leaseLifetimeMs = 24 * 60 * 60 * 1000;
const buildWaitMs = 5000;

export interface CacheOutputsOptions {
  /** The daemon's outputs (image, oci, docker, local, tar). */
  readonly exporter: ExportRunner;
  readonly layers: LayerExporter;
  readonly content: ContentStore;
  readonly defaultPlatform: Platform;
  /** The top-level digest an image reference resolved to (for BuildKit's keys of image steps). */
  readonly topLevel: (ref: string, job: Job) => Promise<Digest | undefined>;
  /** The build's settled steps (known once the cache export has started). */
  readonly build: (job: Job) => Promise<{ readonly vertices: readonly BuiltVertex[] }>;
}

/**
 * Wraps the daemon's outputs for what remote caches need of them. Results still lazy (every step
 * came from an imported cache) are fetched first, since the exporters read snapshots. With
 * `--export-cache type=inline`, image-like outputs get the cache records of the steps on their
 * chain in their image config (`moby.buildkit.cache.v0`), layer indexes counting the image's own
 * layers, which are computed here with the output's layer options (and then reused by it).
 */
export class CacheOutputs implements ExportRunner {
  readonly #options: CacheOutputsOptions;

  constructor(options: CacheOutputsOptions) {
    this.#options = options;
  }

  async export(request: ExporterRequest, result: BuildResult, job: Job): Promise<Record<string, string>> {
    let ready = await materializedResult(result, job.signal);
    if (imageLike.has(request.type) && job.options.cacheExports.some((e) => e.type === 'inline')) {
      ready = await asVertex(job, 'preparing layers for inline cache', () =>
        this.#inline(request, ready, job),
      );
    }
    return this.#options.exporter.export(request, ready, job);
  }

  prepare(request: ExporterRequest, job: Job, chain: readonly OpOutput[]): void {
    this.#options.exporter.prepare?.(request, job, chain);
  }

  async #inline(request: ExporterRequest, result: BuildResult, job: Job): Promise<BuildResult> {
    const { layers, content, defaultPlatform } = this.#options;
    const image = parseImageOptions(request.attrs, {
      defaultOci: request.type === 'oci',
      frontendAttrs: job.options.frontendAttrs,
      metadata: result.metadata,
    });
    const lease = `kiln-cache-inline-${job.ref}-${randomBytes(4).toString('hex')}`;
    await content.createLease(lease, { expiresAt: new Date(Date.now() + leaseLifetimeMs) });
    const policy = layerPolicy(image, lease, {
      signal: job.signal,
      epoch: image.rewriteTimestamp ? image.epoch : undefined,
    });
    // The cache export starts beside the outputs and hands over the steps at once; a runner wired
    // without it must not hang the output.
    const timer = new AbortController();
    const known = await Promise.race([
      this.#options.build(job),
      sleep(buildWaitMs, undefined, { signal: timer.signal }).then(
        () => undefined,
        () => undefined,
      ),
    ]).finally(() => timer.abort());
    const vertices = known?.vertices ?? [];
    const { multi, entries } = resultPlatforms(result, defaultPlatform);
    const metadata = new Map(result.metadata);
    for (const entry of entries) {
      if (entry.ref.snapshot === undefined) continue;
      const chain: ChainLayer[] = await layers.layers(entry.ref.snapshot, policy);
      const records = await inlineRecords(vertices, chain, {
        defaultPlatform,
        topLevel: (ref) => this.#options.topLevel(ref, job),
      });
      if (records.length === 0) continue;
      const raw = platformMetadata(result.metadata, 'containerimage.config', entry.id);
      const text =
        raw && raw.length > 0 ? Buffer.from(raw).toString('utf8') : defaultImageConfig(entry.platform);
      const config = JSON.parse(text) as Record<string, unknown>;
      config[inlineCacheKey] = marshalRecords(records).toString('base64');
      metadata.set(
        multi ? `containerimage.config/${entry.id}` : 'containerimage.config',
        Buffer.from(JSON.stringify(config)),
      );
    }
    return { ...result, metadata };
  }
}

/**
 * The inline cache records of an image: kiln's key of every step whose result is a prefix of the
 * image's chain, and BuildKit's own keys where kiln can compute them (`buildkit`), with layer
 * indexes counting the image's layers.
 */
export async function inlineRecords(
  vertices: readonly BuiltVertex[],
  chain: readonly ChainLayer[],
  buildkit?: Omit<BuildKitRecordOptions, 'chainOf'>,
): Promise<CacheRecord[]> {
  const builder = new ConfigBuilder();
  const prefixes = new Map<ResultRef, readonly ChainLayer[]>();
  for (const v of vertices) {
    v.keys.forEach((key, i) => {
      const ref = v.refs[i]!;
      const at = positionOn(ref, chain);
      if (at === undefined) return;
      const prefix = chain.slice(0, at + 1);
      builder.addKeyed(key, prefix);
      prefixes.set(ref, prefix);
    });
  }
  if (buildkit)
    await addBuildKitRecords(builder, vertices, { ...buildkit, chainOf: (ref) => prefixes.get(ref) });
  const config = builder.config();
  // Every layer the builder made is a prefix of the image chain: its depth is its image index.
  const depth: number[] = [];
  config.layers.forEach((l, i) => (depth[i] = l.parent === -1 ? 0 : depth[l.parent]! + 1));
  return sortRecords(config.records, (i) => depth[i]!);
}

/** The result with lazy refs fetched (exporters read snapshots). */
async function materializedResult(result: BuildResult, signal: AbortSignal): Promise<BuildResult> {
  const lazy = (r: ResultRef | undefined): boolean => r?.snapshot === undefined && r?.lazy !== undefined;
  if (!lazy(result.ref) && ![...(result.refs?.values() ?? [])].some(lazy)) return result;
  const ref = result.ref ? await materialized(result.ref, signal) : undefined;
  const refs = result.refs
    ? new Map(
        await Promise.all(
          [...result.refs].map(async ([k, r]) => [k, await materialized(r, signal)] as const),
        ),
      )
    : undefined;
  return { ...result, ...(ref ? { ref } : {}), ...(refs ? { refs } : {}) };
}
