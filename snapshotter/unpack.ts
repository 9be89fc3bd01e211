import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ContentProvider } from '../content/index.js';
import { type Descriptor, type Digest, layerCompression, sha256 } from '../oci/index.js';
import { applyLayer } from './apply-layer.js';
import { recordLayerBlob } from './diff-layer.js';
import { DiffIdMismatchError, SnapshotterArgumentError } from './errors.js';
import { SingleFlight } from './single-flight.js';
import type { LocalSnapshotter } from './snapshotter.js';

export interface UnpackOptions {
  readonly snapshotter: LocalSnapshotter;
  readonly content: ContentProvider;
  /** The manifest's layers, base first. */
  readonly layers: readonly Descriptor[];
  /** The config's `rootfs.diff_ids`, one per layer. */
  readonly diffIds: readonly Digest[];
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

export interface UnpackResult {
  /** The committed snapshot holding the whole image: the top layer's chain ID. */
  readonly key: Digest;
  /** Chain IDs of every layer, base first; each names a committed snapshot. */
  readonly chainIds: readonly Digest[];
  /** Layers this call applied itself (the rest existed, or a concurrent call applied them). */
  readonly applied: number;
}

/** OCI chain IDs: chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    const previous = out[out.length - 1];
    out.push(previous === undefined ? diffId : sha256(`${previous} ${diffId}`));
  }
  return out;
}

const flights = new WeakMap<LocalSnapshotter, SingleFlight<boolean>>();

/** Label on the active snapshots unpack works in; any still present at startup are debris. */
export const unpackLabel = 'kiln.io/unpack';

async function committed(snapshotter: LocalSnapshotter, key: string): Promise<boolean> {
  try {
    return (await snapshotter.stat(key)).kind === 'committed';
  } catch (error) {
    if ((error as { kind?: unknown }).kind === 'not-found') return false;
    throw error;
  }
}

/**
 * Unpacks an image's layers into a chain of committed snapshots named by chain ID, so a base chain
 * is unpacked once and shared by every image built on it: layers whose chain snapshot exists are
 * skipped, concurrent unpacks of one chain ID share one apply, and each layer's uncompressed digest
 * is checked against its diffID (DiffIdMismatchError, nothing committed). Each new snapshot
 * remembers its layer blob, so exporting it later reuses the blob as pulled. Throws invalid-argument
 * when layers and diffIds disagree in number, and not-found when a blob is missing from `content`.
 */
export async function unpack(options: UnpackOptions): Promise<UnpackResult> {
  const { snapshotter, layers, diffIds, signal } = options;
  if (layers.length === 0 || layers.length !== diffIds.length) {
    throw new SnapshotterArgumentError({
      what: 'image layers',
      reason: `${layers.length} layer(s) and ${diffIds.length} diffID(s); expected the same, non-zero number`,
    });
  }
  const ids = chainIds(diffIds);
  let start = ids.length;
  while (start > 0 && !(await committed(snapshotter, ids[start - 1] as Digest))) start--;
  let flight = flights.get(snapshotter);
  if (!flight) {
    flight = new SingleFlight<boolean>();
    flights.set(snapshotter, flight);
  }
  let applied = 0;
  for (let i = start; i < ids.length; i++) {
    const chainId = ids[i] as Digest;
    const layer = { descriptor: layers[i] as Descriptor, diffId: diffIds[i] as Digest };
    const parent = ids[i - 1];
    const joined = flight.has(chainId);
    const did = await flight.run(chainId, (s) => unpackLayer(options, chainId, parent, layer, s), signal);
    if (did && !joined) applied++;
  }
  return { key: ids[ids.length - 1] as Digest, chainIds: ids, applied };
}

async function unpackLayer(
  options: UnpackOptions,
  chainId: Digest,
  parent: Digest | undefined,
  layer: { descriptor: Descriptor; diffId: Digest },
  signal: AbortSignal,
): Promise<boolean> {
  const { snapshotter, content, logger } = options;
  if (await committed(snapshotter, chainId)) return false;
  const active = `unpack-${randomBytes(6).toString('hex')}-${chainId}`;
  // The label lets startup recognise (and remove) an unpack a crash interrupted.
  await snapshotter.prepare(active, parent, { signal, labels: { [unpackLabel]: chainId } });
  try {
    const blob = await content.reader(layer.descriptor.digest, { signal });
    let diffId: Digest;
    try {
      ({ diffId } = await applyLayer(snapshotter, active, blob, { signal, logger }));
    } finally {
      blob.destroy();
    }
    if (diffId !== layer.diffId) {
      throw new DiffIdMismatchError({
        layer: layer.descriptor.digest,
        expected: layer.diffId,
        actual: diffId,
      });
    }
    try {
      await snapshotter.commit(chainId, active);
    } catch (error) {
      // Another process committed the same chain in the meantime: theirs is as good as ours.
      if ((error as { kind?: unknown }).kind !== 'already-exists') throw error;
      await snapshotter.remove(active);
      return false;
    }
  } catch (error) {
    await snapshotter.remove(active).catch(() => undefined);
    throw error;
  }
  if (layerCompression(layer.descriptor.mediaType)) await recordLayerBlob(snapshotter, chainId, layer);
  logger?.debug({ chainId, layer: layer.descriptor.digest }, 'layer unpacked');
  return true;
}
