import type { Logger } from 'pino';
import type { ContentStore } from '../content/index.js';
import {
  type Compression,
  type Descriptor,
  type Digest,
  Digester,
  MediaType,
  layerCompression,
  layerMediaType,
  parseDigest,
} from '../oci/index.js';
import {
  compress,
  diffLayer,
  layerTar,
  unpackLabel,
  type LayerRecord,
  type LocalSnapshotter,
  type SnapshotInfo,
} from '../snapshotter/index.js';
import { LayerRewriteError } from './errors.js';
import { clampTarTimes } from './tar-epoch.js';

/** How layers are wanted for one export. */
export interface LayerPolicy {
  readonly compression: Compression;
  readonly level: number | undefined;
  /** Recompress blobs that exist in another compression (else they are reused as they are). */
  readonly force: boolean;
  readonly oci: boolean;
  /** With rewrite-timestamp: clamp file times in every layer not pulled from a registry. */
  readonly epoch: number | undefined;
  /** Lease that holds every blob of the export. */
  readonly lease: string;
  readonly signal?: AbortSignal;
  /** Told each layer as soon as its blob is in the content store, before the rest are done. */
  readonly onLayer?: (layer: ExportedLayer) => void;
}

/** An output's layer options: the compression it asks for and whether its media types are OCI's. */
export interface LayerFormat {
  readonly compression: Compression;
  readonly level: number | undefined;
  readonly force: boolean;
  readonly oci: boolean;
}

/** The policy for `format`'s layers, held under `lease`, file times clamped to `epoch` when given. */
export function layerPolicy(
  format: LayerFormat,
  lease: string,
  options: { signal?: AbortSignal; epoch?: number | undefined } = {},
): LayerPolicy {
  return {
    compression: format.compression,
    level: format.level,
    force: format.force,
    oci: format.oci,
    epoch: options.epoch,
    lease,
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/** One layer of an exported image. */
export interface ExportedLayer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  readonly snapshot: string;
  readonly createdAt: Date;
}

const layerConcurrency = 3;

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Turns committed snapshot chains into layer blobs. One layer per snapshot of the chain (the
 * snapshot against its parent), base first. A snapshot's blob is computed once and remembered
 * by the snapshotter, so later exports (and concurrent ones, which share the computation) reuse
 * it; blobs of pulled layers are reused exactly as pulled unless `force` asks for another
 * compression. Lifecycle: one per daemon (it holds the in-flight rewrites).
 */
export class LayerExporter {
  readonly #snapshotter: LocalSnapshotter;
  readonly #content: ContentStore;
  readonly #logger: Logger | undefined;
  readonly #rewrites = new Map<string, Promise<ExportedLayer>>();

  constructor(options: { snapshotter: LocalSnapshotter; content: ContentStore; logger?: Logger }) {
    this.#snapshotter = options.snapshotter;
    this.#content = options.content;
    this.#logger = options.logger;
  }

  /** The snapshot `key` and its ancestors, base first. Cheap: one SQLite read per snapshot. */
  async chain(key: string | undefined): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (let k = key; k !== undefined;) {
      const info = await this.#snapshotter.stat(k);
      out.unshift(info);
      k = info.parent;
    }
    return out;
  }

  /**
   * The layers of snapshot `key` (none for an empty result). Cost: nothing for remembered blobs
   * (one SQLite read and one content lookup each), a diff and compression for new ones. Throws
   * snapshotter and content store errors, and LayerRewriteError.
   */
  async layers(key: string | undefined, policy: LayerPolicy): Promise<ExportedLayer[]> {
    const chain = await this.chain(key);
    return mapLimited(chain, layerConcurrency, async (info) => {
      const layer = await this.#layer(info, policy);
      policy.onLayer?.(layer);
      return layer;
    });
  }

  async #layer(info: SnapshotInfo, policy: LayerPolicy): Promise<ExportedLayer> {
    policy.signal?.throwIfAborted();
    const pulled = info.labels[unpackLabel] !== undefined;
    const base = policy.level === undefined ? policy.compression : `${policy.compression}:${policy.level}`;
    if (policy.epoch !== undefined && !pulled) return this.#rewritten(info, base, policy);
    if (!policy.force) {
      const candidates = new Set([base, policy.compression, 'gzip', 'zstd', 'uncompressed']);
      for (const recordKey of candidates) {
        const record = await this.#snapshotter.layerRecord(info.key, recordKey);
        if (record && (await this.#reusable(record, policy.lease)))
          return this.#fromRecord(info, record, policy);
      }
    }
    const blob = await diffLayer(this.#snapshotter, info.key, {
      compression: policy.compression,
      content: this.#content,
      oci: policy.oci,
      lease: policy.lease,
      ...(policy.level !== undefined ? { level: policy.level } : {}),
      ...(policy.signal ? { signal: policy.signal } : {}),
      ...(this.#logger ? { logger: this.#logger } : {}),
    });
    return {
      descriptor: blob.descriptor,
      diffId: blob.diffId,
      snapshot: info.key,
      createdAt: info.createdAt,
    };
  }

  async #reusable(record: LayerRecord, lease: string): Promise<boolean> {
    const digest = parseDigest(record.digest);
    try {
      await this.#content.info(digest);
    } catch (error) {
      if ((error as { kind?: unknown }).kind === 'not-found') return false;
      throw error;
    }
    await this.#content.addLeaseResource(lease, digest);
    return true;
  }

  #fromRecord(info: SnapshotInfo, record: LayerRecord, policy: LayerPolicy): ExportedLayer {
    const foreign = record.mediaType === MediaType.dockerForeignLayerGzip;
    const compression = layerCompression(record.mediaType) ?? policy.compression;
    return {
      descriptor: {
        mediaType: foreign ? record.mediaType : layerMediaType(compression, policy.oci),
        digest: parseDigest(record.digest),
        size: record.size,
      },
      diffId: parseDigest(record.diffId),
      snapshot: info.key,
      createdAt: info.createdAt,
    };
  }

  /** A layer whose file times are clamped to the epoch; remembered under its own record key. */
  #rewritten(info: SnapshotInfo, base: string, policy: LayerPolicy): Promise<ExportedLayer> {
    const recordKey = `${base}@sde=${policy.epoch}`;
    const id = `${info.key}\0${recordKey}`;
    let flight = this.#rewrites.get(id);
    if (!flight) {
      flight = this.#computeRewritten(info, recordKey, policy).finally(() => this.#rewrites.delete(id));
      this.#rewrites.set(id, flight);
    }
    return flight.then(async (layer) => {
      await this.#content.addLeaseResource(policy.lease, layer.descriptor.digest);
      return {
        ...layer,
        descriptor: { ...layer.descriptor, mediaType: layerMediaType(policy.compression, policy.oci) },
      };
    });
  }

  async #computeRewritten(
    info: SnapshotInfo,
    recordKey: string,
    policy: LayerPolicy,
  ): Promise<ExportedLayer> {
    const remembered = await this.#snapshotter.layerRecord(info.key, recordKey);
    if (remembered && (await this.#reusable(remembered, policy.lease))) {
      return this.#fromRecord(info, remembered, policy);
    }
    const { signal } = policy;
    const source = await this.#snapshotter.changeSource(info.key);
    const diffId = new Digester();
    const fail = (reason: string): never => {
      throw new LayerRewriteError(info.key, reason);
    };
    const tar = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of clampTarTimes(
        layerTar(source, signal ? { signal } : {}),
        policy.epoch!,
        fail,
      )) {
        diffId.update(chunk);
        yield chunk;
      }
    };
    const writer = await this.#content.writer({
      ref: `layer-epoch-${this.#snapshotter.driver}-${info.key}-${recordKey}`,
      lease: policy.lease,
      ...(signal ? { signal } : {}),
    });
    let committed;
    try {
      for await (const chunk of compress(tar(), policy.compression, { level: policy.level })) {
        signal?.throwIfAborted();
        await writer.write(chunk);
      }
      committed = await writer.commit();
    } finally {
      await writer.abort();
    }
    const record: LayerRecord = {
      digest: committed.digest,
      size: committed.size,
      mediaType: layerMediaType(policy.compression, policy.oci),
      diffId: diffId.digest(),
    };
    await this.#snapshotter.recordLayer(info.key, recordKey, record);
    this.#logger?.debug(
      { snapshot: info.key, digest: record.digest, epoch: policy.epoch },
      'layer rewritten',
    );
    return this.#fromRecord(info, record, policy);
  }
}
