import { createHash } from 'node:crypto';

function score(key: string, name: string): bigint {
  return createHash('sha256').update(key).update('\0').update(name).digest().readBigUInt64BE(0);
}

/**
 * Rendezvous (highest random weight) hashing: `names` ordered by their score for `key`, best
 * first. Every client computes the same order without coordination, and removing a name moves
 * only the keys that name held; the others keep their node and its warm cache. Names must be
 * unique; ties (never seen in practice) fall back to name order so the result is total.
 */
export function rendezvousOrder(names: readonly string[], key: string): string[] {
  return names
    .map((name) => ({ name, score: score(key, name) }))
    .sort((a, b) => (a.score === b.score ? (a.name < b.name ? -1 : 1) : a.score > b.score ? -1 : 1))
    .map((s) => s.name);
}
