/** An action timestamp (Unix nanoseconds, -1 for none) as seconds for utimes, or undefined. */
export function nsToSeconds(ns: bigint): number | undefined {
  if (ns === -1n) return undefined;
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}
