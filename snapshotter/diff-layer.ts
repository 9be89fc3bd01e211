import type { Logger } from 'pino';
import type { ContentProvider, Ingester, LeaseManager } from '../content/index.js';
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
import { compress } from './compression.js';
import { SnapshotterArgumentError } from './errors.js';
import { layerTar } from './layer-tar.js';
import { SingleFlight } from './single-flight.js';
import type { LayerRecord, LocalSnapshotter } from './snapshotter.js';

/** What diffLayer needs from the content store: write blobs, check they still exist, lease them. */
export type LayerContent = Ingester & Pick<ContentProvider, 'info'> & Pick<LeaseManager, 'addLeaseResource'>;

export interface DiffLayerOptions {
  readonly compression: Compression;
  readonly content: LayerContent;
  /** OCI media types (default) or Docker's (Docker has no zstd type, so zstd is always OCI). */
  readonly oci?: boolean;
  /** Lease that holds the blob (a fresh blob, or a remembered one that is reused). */
  readonly lease?: string;
  /** gzip 1–9 (default 6) or zstd 1–19 (default 3); a different level means a different blob. */
  readonly level?: number;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

export interface LayerBlob {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  /** True when a remembered blob was returned without reading the snapshot. */
  readonly reused: boolean;
}

const flights = new WeakMap<LocalSnapshotter, SingleFlight<LayerBlob>>();

function describe(record: LayerRecord, compression: Compression, oci: boolean): Descriptor {
  const foreign = record.mediaType === MediaType.dockerForeignLayerGzip;
  return {
    mediaType: foreign ? record.mediaType : layerMediaType(compression, oci),
    digest: parseDigest(record.digest),
    size: record.size,
  };
}

async function exists(content: LayerContent, digest: Digest): Promise<boolean> {
  try {
    await content.info(digest);
    return true;
  } catch (error) {
    if ((error as { kind?: unknown }).kind === 'not-found') return false;
    throw error;
  }
}

/**
 * The layer blob of committed snapshot `key` against its parent, in `compression`. Computed once:
 * the blob goes to the content store and (digest, size, diffID) is remembered per snapshot and
 * compression, so later calls return it without reading the snapshot (as long as the store still
 * has the blob). Concurrent calls for the same snapshot and compression share one computation.
 * Throws not-found or failed-precondition (not committed) from the snapshotter, and content
 * store errors. Cost: one walk of the changes plus compression (gzip spread over the libuv pool).
 */
export async function diffLayer(
  snapshotter: LocalSnapshotter,
  key: string,
  options: DiffLayerOptions,
): Promise<LayerBlob> {
  let flight = flights.get(snapshotter);
  if (!flight) {
    flight = new SingleFlight<LayerBlob>();
    flights.set(snapshotter, flight);
  }
  const id = `${key}\0${options.compression}\0${options.level ?? ''}`;
  const blob = await flight.run(
    id,
    (signal) => computeLayer(snapshotter, key, { ...options, signal }),
    options.signal,
  );
  // A caller that joined another's computation holds the blob under its own lease too.
  if (options.lease) await options.content.addLeaseResource(options.lease, blob.descriptor.digest);
  return blob;
}

async function computeLayer(
  snapshotter: LocalSnapshotter,
  key: string,
  options: DiffLayerOptions,
): Promise<LayerBlob> {
  const { compression, content, signal } = options;
  const oci = options.oci ?? true;
  const recordKey = options.level === undefined ? compression : `${compression}:${options.level}`;
  const remembered = await snapshotter.layerRecord(key, recordKey);
  if (remembered && (await exists(content, parseDigest(remembered.digest)))) {
    if (options.lease) await content.addLeaseResource(options.lease, parseDigest(remembered.digest));
    return {
      descriptor: describe(remembered, compression, oci),
      diffId: parseDigest(remembered.diffId),
      reused: true,
    };
  }
  const source = await snapshotter.changeSource(key);
  const diffId = new Digester();
  const tar = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of layerTar(source, { signal })) {
      diffId.update(chunk);
      yield chunk;
    }
  };
  const writer = await content.writer({
    ref: `layer-${snapshotter.driver}-${key}-${recordKey}`,
    lease: options.lease,
    signal,
  });
  let info;
  try {
    for await (const chunk of compress(tar(), compression, { level: options.level })) {
      signal?.throwIfAborted();
      await writer.write(chunk);
    }
    info = await writer.commit();
  } finally {
    await writer.abort();
  }
  const record: LayerRecord = {
    digest: info.digest,
    size: info.size,
    mediaType: layerMediaType(compression, oci),
    diffId: diffId.digest(),
  };
  await snapshotter.recordLayer(key, recordKey, record);
  options.logger?.debug({ key, compression, digest: info.digest, size: info.size }, 'layer blob computed');
  return { descriptor: describe(record, compression, oci), diffId: diffId.digest(), reused: false };
}

/**
 * Remembers that committed snapshot `key` is the layer `descriptor` (with `diffId`), e.g. after
 * unpacking a pulled image, so exports reuse the blob exactly as pulled. The compression comes from
 * the media type; throws invalid-argument for a media type that is not a layer.
 */
export async function recordLayerBlob(
  snapshotter: LocalSnapshotter,
  key: string,
  layer: { readonly descriptor: Descriptor; readonly diffId: Digest },
): Promise<void> {
  const compression = layerCompression(layer.descriptor.mediaType);
  if (!compression) {
    throw new SnapshotterArgumentError({
      what: 'layer media type',
      reason: `${JSON.stringify(layer.descriptor.mediaType)} is not a layer media type`,
    });
  }
  await snapshotter.recordLayer(key, compression, {
    digest: layer.descriptor.digest,
    size: layer.descriptor.size,
    mediaType: layer.descriptor.mediaType,
    diffId: layer.diffId,
  });
}
