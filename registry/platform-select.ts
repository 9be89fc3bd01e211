import {
  formatPlatform,
  platformRank,
  type Descriptor,
  type ImageIndex,
  type Platform,
} from '../oci/index.js';

/**
 * The index entry to run on `wanted`: the best-ranked compatible platform (exact first, then
 * older micro-architecture levels: amd64 v3 → v2 → v1, arm v7 → v6 → v5), the earliest entry on
 * ties. Entries without a platform (attestations, artifacts) never match. Undefined when none fits.
 */
export function selectManifest(index: ImageIndex, wanted: Platform): Descriptor | undefined {
  let best: { descriptor: Descriptor; rank: number } | undefined;
  for (const descriptor of index.manifests) {
    if (!descriptor.platform?.os || !descriptor.platform.architecture) continue;
    const rank = platformRank(wanted, descriptor.platform);
    if (rank === undefined) continue;
    if (!best || rank < best.rank) best = { descriptor, rank };
  }
  return best?.descriptor;
}

/** The platforms an index offers, for error messages (`linux/amd64, linux/arm64`). */
export function availablePlatforms(index: ImageIndex): string[] {
  const found = index.manifests.flatMap((m) =>
    m.platform?.os && m.platform.architecture ? [formatPlatform(m.platform)] : [],
  );
  return [...new Set(found)];
}
