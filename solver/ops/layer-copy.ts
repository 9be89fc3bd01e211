import type { ContentStore } from '../../content/index.js';
import { applyLayer, diffLayer, recordLayerBlob, type LocalSnapshotter } from '../../snapshotter/index.js';
import { newId } from '../job.js';

/** The committed snapshots of a chain, base first (a snapshot's parents, then itself). */
export async function layerChain(snapshotter: LocalSnapshotter, key: string | undefined): Promise<string[]> {
  const chain: string[] = [];
  for (let k = key; k; k = (await snapshotter.stat(k)).parent) chain.unshift(k);
  return chain;
}

/**
 * Stacks `layers` (committed snapshots, each applied as the change it made to its own parent)
 * onto `base`, one new committed snapshot per layer. Each new snapshot remembers the original
 * layer's blob, so exporting it reuses that blob: a linked layer keeps its digest whatever it is
 * stacked on (the point of `COPY --link`).
 */
export async function stackLayers(options: {
  snapshotter: LocalSnapshotter;
  content: ContentStore;
  base: string | undefined;
  layers: readonly string[];
  signal: AbortSignal;
}): Promise<string | undefined> {
  const { snapshotter, content, signal } = options;
  let top = options.base;
  for (const layer of options.layers) {
    const blob = await diffLayer(snapshotter, layer, { compression: 'gzip', content, oci: true, signal });
    const key = `stack-${newId()}`;
    await snapshotter.prepare(key, top);
    let committed = false;
    try {
      await applyLayer(snapshotter, key, await content.reader(blob.descriptor.digest, { signal }), {
        signal,
      });
      const name = `layer-${newId()}`;
      await snapshotter.commit(name, key);
      committed = true;
      await recordLayerBlob(snapshotter, name, blob);
      top = name;
    } finally {
      if (!committed) await snapshotter.remove(key).catch(() => undefined);
    }
  }
  return top;
}
