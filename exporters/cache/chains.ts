import { layerCompression, type Descriptor, type Digest } from '../../oci/index.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import type { ResultRef } from '../../solver/index.js';
import { goTime } from '../go-json.js';
import type { LayerExporter, LayerPolicy } from '../layers.js';
import type { CacheConfig, CacheLayer, CacheRecord } from './cache-config.js';
import { exportedMediaType } from './cache-index.js';

/** One layer of an exported chain. */
export interface ChainLayer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  readonly createdAt: Date;
  /** The local snapshot it is the diff of; undefined for a layer still only in an imported cache. */
  readonly snapshot?: string;
}

/** A cache key with its result's chain, base first. */
export interface KeyedChain {
  readonly key: string;
  readonly chain: readonly ChainLayer[];
}

/**
 * Layer chains of many results at once, linear in the number of distinct snapshots: each
 * snapshot is stat'ed once, only the tips of the snapshot forest go through the LayerExporter
 * (which computes a blob once per snapshot and compression, and reuses pulled blobs as pulled),
 * and every other result takes a prefix of a tip's chain. Results still lazy (from an imported
 * cache) keep their imported blobs unless `force` asks for another compression.
 */
export class ChainResolver {
  readonly #layers: LayerExporter;
  readonly #snapshotter: LocalSnapshotter;
  readonly #policy: LayerPolicy;
  readonly #parents = new Map<string, string | undefined>();

  constructor(options: { layers: LayerExporter; snapshotter: LocalSnapshotter; policy: LayerPolicy }) {
    this.#layers = options.layers;
    this.#snapshotter = options.snapshotter;
    this.#policy = options.policy;
  }

  /** The chain of every ref (undefined for an empty result). */
  async chains(refs: readonly ResultRef[]): Promise<Map<ResultRef, readonly ChainLayer[] | undefined>> {
    const out = new Map<ResultRef, readonly ChainLayer[] | undefined>();
    const bySnapshot = new Map<ResultRef, string>();
    for (const ref of refs) {
      let snapshot = ref.snapshot;
      if (snapshot === undefined && ref.lazy) {
        if (!this.#needsRecompression(ref.lazy.layers.map((l) => l.descriptor))) {
          out.set(ref, this.#lazyChain(ref));
          continue;
        }
        snapshot = await ref.lazy.materialize(this.#policy.signal ?? new AbortController().signal);
      }
      if (snapshot === undefined) out.set(ref, undefined);
      else bySnapshot.set(ref, snapshot);
    }
    const snapshotChains = await this.#snapshotChains(new Set(bySnapshot.values()));
    for (const [ref, snapshot] of bySnapshot) out.set(ref, snapshotChains.get(snapshot));
    return out;
  }

  #needsRecompression(layers: readonly Descriptor[]): boolean {
    return (
      this.#policy.force && layers.some((d) => layerCompression(d.mediaType) !== this.#policy.compression)
    );
  }

  #lazyChain(ref: ResultRef): ChainLayer[] {
    const now = new Date();
    return ref.lazy!.layers.map((l) => ({
      descriptor: exportedMediaType(l.descriptor, this.#policy.oci),
      diffId: l.diffId,
      createdAt: createdAtOf(l.descriptor) ?? now,
    }));
  }

  async #parent(key: string): Promise<string | undefined> {
    if (this.#parents.has(key)) return this.#parents.get(key);
    const parent = (await this.#snapshotter.stat(key)).parent;
    this.#parents.set(key, parent);
    return parent;
  }

  async #snapshotChains(snapshots: ReadonlySet<string>): Promise<Map<string, ChainLayer[]>> {
    const ancestors = new Set<string>();
    for (const snapshot of snapshots) {
      for (
        let k = await this.#parent(snapshot);
        k !== undefined && !ancestors.has(k);
        k = await this.#parent(k)
      ) {
        ancestors.add(k);
      }
    }
    const tips = [...snapshots].filter((s) => !ancestors.has(s));
    const out = new Map<string, ChainLayer[]>();
    await Promise.all(
      tips.map(async (tip) => {
        const layers = await this.#layers.layers(tip, this.#policy);
        layers.forEach((layer, i) => {
          if (!out.has(layer.snapshot)) out.set(layer.snapshot, layers.slice(0, i + 1));
        });
      }),
    );
    return out;
  }
}

/** `buildkit/createdat` of an imported layer, so re-exports keep the original time. */
function createdAtOf(d: Descriptor): Date | undefined {
  const v = d.annotations?.['buildkit/createdat'];
  const t = v ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? new Date(t) : undefined;
}

/**
 * Where a result sits on a chain: the index of its top layer when its own chain is a prefix of
 * `chain` (matched by snapshot, or by blob digests for a lazy result), else undefined.
 */
export function positionOn(ref: ResultRef, chain: readonly ChainLayer[]): number | undefined {
  if (ref.snapshot !== undefined) {
    const i = chain.findIndex((l) => l.snapshot === ref.snapshot);
    return i >= 0 ? i : undefined;
  }
  const layers = ref.lazy?.layers;
  if (!layers || layers.length === 0 || layers.length > chain.length) return undefined;
  return layers.every((l, i) => l.descriptor.digest === chain[i]!.descriptor.digest)
    ? layers.length - 1
    : undefined;
}

/**
 * Builds a cache config: kiln's keys as records without inputs (one result each), and records in
 * BuildKit's own key scheme linked to their inputs' records. Layers are shared between chains by
 * (blob, parent); `blobs` are the layer blobs the config names.
 */
export class ConfigBuilder {
  readonly blobs = new Map<string, ChainLayer>();
  readonly #layers: CacheLayer[] = [];
  readonly #layerIndex = new Map<string, number>();
  readonly #records: CacheRecord[] = [];
  readonly #keyed = new Set<string>();

  /** Adds a kiln key with its result (the first chain given for a key wins). */
  addKeyed(key: string, chain: readonly ChainLayer[]): void {
    if (this.#keyed.has(key) || chain.length === 0) return;
    this.#keyed.add(key);
    this.#records.push({ digest: key, results: [this.#result(chain)] });
  }

  /**
   * Adds a record linked from its inputs' records (`inputs[k]`: the alternatives for input k, as
   * record indexes); returns its index.
   */
  addLinked(digest: string, inputs: ReadonlyArray<readonly number[]>, chain?: readonly ChainLayer[]): number {
    this.#records.push({
      digest,
      ...(chain && chain.length > 0 ? { results: [this.#result(chain)] } : {}),
      ...(inputs.length > 0 ? { inputs: inputs.map((alts) => alts.map((link) => ({ link }))) } : {}),
    });
    return this.#records.length - 1;
  }

  /** Adds a base layer of its own (a cache mount's contents); returns its index. */
  addLayer(layer: ChainLayer): number {
    return this.#layer(layer, -1);
  }

  config(): CacheConfig {
    return { layers: [...this.#layers], records: [...this.#records] };
  }

  #layer(layer: ChainLayer, parent: number): number {
    const id = `${layer.descriptor.digest}|${parent}`;
    let index = this.#layerIndex.get(id);
    if (index === undefined) {
      index = this.#layers.length;
      this.#layers.push({ blob: layer.descriptor.digest, parent });
      this.#layerIndex.set(id, index);
    }
    if (!this.blobs.has(layer.descriptor.digest)) this.blobs.set(layer.descriptor.digest, layer);
    return index;
  }

  #result(chain: readonly ChainLayer[]): { layer: number; createdAt: string } {
    let parent = -1;
    for (const layer of chain) parent = this.#layer(layer, parent);
    return { layer: parent, createdAt: goTime(chain.at(-1)!.createdAt) };
  }
}
