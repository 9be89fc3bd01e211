import { readFileSync } from 'node:fs';
import type { SolveStatus } from '../index.js';

interface Raw {
  vertexes?: Array<Record<string, unknown>>;
  statuses?: Array<Record<string, unknown>>;
  logs?: Array<Record<string, unknown>>;
  warnings?: Array<Record<string, unknown>>;
}

const d = (v: unknown): Date | undefined => (typeof v === 'string' ? new Date(v) : undefined);
const opt = <K extends string>(key: K, v: Date | undefined): { [P in K]?: Date } =>
  (v ? { [key]: v } : {}) as { [P in K]?: Date };

/** Reads a `--progress rawjson` recording (one SolveStatus per line) back into SolveStatus values. */
export function readRecording(name: string): SolveStatus[] {
  const path = new URL(`../../../../client/progress/testdata/${name}`, import.meta.url);
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((line) => {
      const raw = JSON.parse(line) as Raw;
      return {
        vertexes: (raw.vertexes ?? []).map((v) => ({
          digest: String(v['digest'] ?? ''),
          inputs: (v['inputs'] as string[] | undefined) ?? [],
          name: String(v['name'] ?? ''),
          ...opt('started', d(v['started'])),
          ...opt('completed', d(v['completed'])),
          cached: v['cached'] === true,
          error: String(v['error'] ?? ''),
        })),
        statuses: (raw.statuses ?? []).map((s) => ({
          id: String(s['id']),
          vertex: String(s['vertex'] ?? ''),
          name: String(s['name'] ?? ''),
          current: Number(s['current'] ?? 0),
          total: Number(s['total'] ?? 0),
          timestamp: d(s['timestamp'])!,
          ...opt('started', d(s['started'])),
          ...opt('completed', d(s['completed'])),
        })),
        logs: (raw.logs ?? []).map((l) => ({
          vertex: String(l['vertex'] ?? ''),
          stream: Number(l['stream'] ?? 0),
          data: Buffer.from(String(l['data'] ?? ''), 'base64'),
          timestamp: d(l['timestamp'])!,
        })),
        warnings: [],
      };
    });
}

/** The latest time mentioned in a status: the replay clock when it arrives. */
export function statusTime(s: SolveStatus): number {
  let t = 0;
  for (const v of s.vertexes) t = Math.max(t, v.started?.getTime() ?? 0, v.completed?.getTime() ?? 0);
  for (const x of s.statuses) t = Math.max(t, x.timestamp.getTime(), x.completed?.getTime() ?? 0);
  for (const l of s.logs) t = Math.max(t, l.timestamp.getTime());
  return t;
}
