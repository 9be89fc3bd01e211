/**
 * The vertex part of one `--trace` line: Go's client.SolveStatus, with the field names as Go
 * spells them (buildctl v0.11, no JSON tags) or in lower case (kilnctl, and BuildKit releases that
 * tagged the struct for `--progress rawjson`).
 */
interface TraceVertex {
  readonly Digest?: string;
  readonly Name?: string;
  readonly Started?: string | null;
  readonly Completed?: string | null;
  readonly Cached?: boolean;
}

type TraceStatus = { Vertexes?: TraceVertex[] | null; vertexes?: Array<Record<string, unknown>> | null };

/** A lower-case vertex in Go's spelling. */
function goVertex(v: Record<string, unknown>): TraceVertex {
  return {
    Digest: v.digest as string | undefined,
    Name: v.name as string | undefined,
    Started: v.started as string | null | undefined,
    Completed: v.completed as string | null | undefined,
    Cached: v.cached as boolean | undefined,
  };
}

export interface TraceSummary {
  /** Vertex name → milliseconds from its start to its completion; vertices never run are absent. */
  readonly vertexMs: ReadonlyMap<string, number>;
  /** Number of distinct vertices reported cached. */
  readonly cached: number;
  /** Number of distinct vertices reported at all. */
  readonly vertices: number;
}

/**
 * Reads a buildctl trace file (one JSON SolveStatus per line). A vertex may be reported many
 * times; the last non-null start and completion win. Lines that are not JSON are skipped, so a
 * trace cut short by a failed build still yields what it holds.
 */
export function parseTrace(text: string): TraceSummary {
  const byDigest = new Map<string, { name: string; started?: number; completed?: number; cached: boolean }>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let status: TraceStatus;
    try {
      status = JSON.parse(line) as TraceStatus;
    } catch {
      continue;
    }
    for (const v of status.Vertexes ?? (status.vertexes ?? []).map(goVertex)) {
      if (!v.Digest) continue;
      const entry = byDigest.get(v.Digest) ?? { name: v.Name ?? v.Digest, cached: false };
      if (v.Name) entry.name = v.Name;
      if (v.Started) entry.started = Date.parse(v.Started);
      if (v.Completed) entry.completed = Date.parse(v.Completed);
      if (v.Cached) entry.cached = true;
      byDigest.set(v.Digest, entry);
    }
  }
  const vertexMs = new Map<string, number>();
  let cached = 0;
  for (const v of byDigest.values()) {
    if (v.cached) cached++;
    if (v.started !== undefined && v.completed !== undefined && !v.cached) {
      vertexMs.set(v.name, Math.max(vertexMs.get(v.name) ?? 0, v.completed - v.started));
    }
  }
  return { vertexMs, cached, vertices: byDigest.size };
}
