import { sha256 } from '../oci/index.js';
import type { CacheMap, Selector } from './op.js';

/**
 * How one input entered the key: through its own key (with the selectors it was mounted at, so
 * mounting a different sub-path is a different step) or through the checksum of its content.
 */
export type DepKey =
  { readonly key: string; readonly selectors: readonly Selector[] } | { readonly checksum: string };

/**
 * The cache keys of an op's outputs: one digest over the op's normalised digest, each input's
 * contribution in input order, and the output index. The single place keys are computed, so
 * lookups, records and exports always agree.
 */
export function outputKeys(cacheMap: CacheMap, deps: readonly DepKey[], outputs: number): string[] {
  const base = JSON.stringify({
    v: 1,
    digest: cacheMap.digest,
    deps: deps.map((d) =>
      'checksum' in d ? { c: d.checksum } : { k: d.key, s: d.selectors.map(selectorText) },
    ),
  });
  return Array.from({ length: outputs }, (_, output) => sha256(`${base}#${output}`));
}

function selectorText(s: Selector): string {
  return JSON.stringify([
    s.path,
    s.followLinks,
    s.wildcard,
    s.includePatterns ?? [],
    s.excludePatterns ?? [],
  ]);
}
