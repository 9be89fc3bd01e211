/** A [start, stop) span of a step in ms since the epoch; an open span has no stop. */
export interface Interval {
  readonly start: number;
  readonly stop?: number;
}

/** Duration in ms; an open interval runs until `now`. */
export function intervalDuration(ival: Interval, now: number): number {
  return (ival.stop ?? now) - ival.start;
}

/**
 * Merges overlapping intervals, sorted by start. An open interval swallows every later one, so
 * a step that restarted while running counts once.
 */
export function mergeIntervals(intervals: Iterable<Interval>): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  if (sorted.length === 0) return [];
  const merged: Interval[] = [];
  let cur = sorted[0]!;
  for (const next of sorted.slice(1)) {
    if (cur.stop === undefined) {
      merged.push(cur);
      return merged;
    }
    if (cur.stop < next.start) {
      merged.push(cur);
      cur = next;
      continue;
    }
    if (next.stop === undefined) {
      merged.push({ start: cur.start });
      return merged;
    }
    if (cur.stop >= next.stop) continue;
    cur = { start: cur.start, stop: next.stop };
  }
  merged.push(cur);
  return merged;
}
