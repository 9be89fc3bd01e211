import { formatBytes } from '../format/units.js';
import { formatSeconds } from './format.js';
import { intervalDuration, mergeIntervals } from './intervals.js';
import { LogRing, type ProgressTrace, type VertexState } from './trace.js';

const antiFlicker = 5_000;
const maxDelay = 10_000;
const minTimeDelta = 5_000;
const minProgressDelta = 0.05;

/**
 * The plain progress format: one block per step (`#N name`, its statuses, `#N <secs> <log line>`,
 * `#N DONE 0.1s` / `CACHED` / `ERROR: …` / `CANCELED`), with `#N ...` when the output switches to
 * another step while one is still running. Numbers are given in the order steps are first printed.
 */
export class PlainPrinter {
  #current: string | undefined;
  readonly #last = new Map<string, { current: number; timestamp: number }>();
  #notFirst = false;
  #nextIndex = 0;

  constructor(
    private readonly write: (text: string) => void,
    private readonly options: { truncateNames?: boolean } = {},
  ) {}

  #printVertex(t: ProgressTrace, digest: string): void {
    const v = t.byDigest.get(digest);
    if (!v) return;
    if (v.index === 0) v.index = ++this.#nextIndex;
    const w = this.write;
    if (digest !== this.#current) {
      if (this.#current !== undefined) {
        const old = t.byDigest.get(this.#current)!;
        if (old.logsPartial) w('\n');
        old.logsOffset = 0;
        old.count = 0;
        w(`#${old.index} ...\n`);
      }
      if (this.#notFirst) w('\n');
      else this.#notFirst = true;
      const name = v.vertex.name;
      w(`#${v.index} ${this.options.truncateNames && name.length > 72 ? name.slice(0, 72) + '...' : name}\n`);
    }

    let openStatus = false;
    for (const s of v.statuses) {
      if (!v.statusUpdates.has(s.id)) continue;
      const cur = v.byId.get(s.id) ?? s;
      const last = this.#last.get(cur.id);
      if (last && !cur.completed) {
        const progressDelta = cur.total > 0 ? (cur.current - last.current) / cur.total : 0;
        const timeDelta = cur.timestamp.getTime() - last.timestamp;
        if (progressDelta < minProgressDelta && timeDelta < minTimeDelta) continue;
      }
      this.#last.set(cur.id, { current: cur.current, timestamp: cur.timestamp.getTime() });
      let bytes = '';
      if (cur.total !== 0) bytes = ` ${formatBytes(cur.current)} / ${formatBytes(cur.total)}`;
      else if (cur.current !== 0) bytes = ` ${formatBytes(cur.current)}`;
      let tm = '';
      const end = (cur.completed ?? cur.timestamp).getTime();
      if (cur.started) {
        const diff = (end - cur.started.getTime()) / 1000;
        if (diff > 0.01) tm = ` ${formatSeconds(diff)}s`;
      }
      if (cur.completed) tm += ' done';
      else openStatus = true;
      w(`#${v.index} ${cur.id}${bytes}${tm}\n`);
    }
    v.statusUpdates = new Set();

    for (const warning of v.warnings.slice(v.warningIdx)) {
      w(`#${v.index} WARN: ${Buffer.from(warning.short).toString('utf8')}\n`);
      v.warningIdx++;
    }

    v.logs.forEach((line, i) => {
      const text = i === 0 ? line.slice(v.logsOffset) : line;
      w(text);
      if (i !== v.logs.length - 1 || !v.logsPartial) w('\n');
      v.logsBuffer ??= new LogRing();
      v.logsBuffer.set(text);
      if (!v.logsPartial) v.logsBuffer.advance();
    });
    if (v.logs.length > 0) {
      if (v.logsPartial) {
        v.logs = v.logs.slice(-1);
        v.logsOffset = v.logs[0]!.length;
      } else {
        v.logs = [];
        v.logsOffset = 0;
      }
    }

    this.#current = digest;
    if (v.isCompleted() && !openStatus) {
      this.#current = undefined;
      v.count = 0;
      if (v.logsPartial) w('\n');
      const error = v.vertex.error;
      if (error !== '') {
        if (error.endsWith('context canceled')) w(`#${v.index} CANCELED\n`);
        else w(`#${v.index} ERROR: ${error}\n`);
      } else if (v.vertex.cached) w(`#${v.index} CACHED\n`);
      else {
        const ivals = mergeIntervals(v.intervals.values());
        const tm =
          ivals.length > 0
            ? ` ${formatSeconds(ivals.reduce((sum, i) => sum + intervalDuration(i, t.now()), 0) / 1000)}s`
            : '';
        w(`#${v.index} DONE${tm}\n`);
      }
    }
    t.updates.delete(digest);
  }

  /** Prints what changed since the last call. */
  print(t: ProgressTrace): void {
    const completed: string[] = [];
    const rest: string[] = [];
    for (const digest of t.updates) {
      const v = t.byDigest.get(digest);
      if (!v || v.vertex.progressGroup || v.hidden || v.vertex.digest !== digest) continue;
      (v.isCompleted() ? completed : rest).push(digest);
    }
    const current = this.#current;
    if (current !== undefined && completed.includes(current)) this.#printVertex(t, current);
    const stopOf = (d: string): number => t.byDigest.get(d)!.mostRecentInterval()?.stop ?? 0;
    for (const digest of [...completed].sort((a, b) => stopOf(a) - stopOf(b))) {
      if (digest !== current) this.#printVertex(t, digest);
    }

    if (rest.length === 0) {
      if (current !== undefined) {
        const v = t.byDigest.get(current);
        if (v && v.isStarted() && !v.isCompleted()) return;
      }
      for (const [digest, v] of t.byDigest) {
        if (v.vertex.digest !== digest) continue;
        if (v.isStarted() && !v.isCompleted() && !v.vertex.progressGroup && !v.hidden) {
          this.#printVertex(t, digest);
          return;
        }
      }
      return;
    }

    if (current !== undefined && rest.includes(current)) this.#printVertex(t, current);

    const now = t.now();
    const stats = new Map<string, { blockTime: number; speed: number; share: number; overLimit: boolean }>();
    let sum = 0;
    let max: string | undefined;
    const candidates = current !== undefined && !rest.includes(current) ? [...rest, current] : rest;
    for (const digest of candidates) {
      const v = t.byDigest.get(digest);
      if (!v || v.lastBlockTime === undefined) continue;
      const blockTime = now - v.lastBlockTime;
      const speed = v.count / (blockTime / 1000);
      const overLimit = blockTime > maxDelay && digest !== current;
      stats.set(digest, { blockTime, speed, share: 0, overLimit });
      sum += speed;
      if (overLimit || max === undefined || stats.get(max)!.speed < speed) max = digest;
    }
    for (const s of stats.values()) s.share = s.speed / sum;

    if ((current !== undefined && completed.includes(current)) || current === undefined) {
      if (max !== undefined) this.#printVertex(t, max);
      return;
    }
    for (const digest of rest) {
      if (stats.get(digest)?.overLimit) {
        this.#printVertex(t, digest);
        return;
      }
    }
    const cur = stats.get(current);
    if (cur && (1 / (1 - cur.share)) * (antiFlicker / 1000) < cur.blockTime / 1000 && max !== undefined) {
      this.#printVertex(t, max);
    }
  }
}

/** The error summary: for each failed step, its name and its last log lines between `------`. */
export function errorSummary(t: ProgressTrace): string {
  let out = '';
  for (const v of t.failed()) {
    out += '------\n';
    out += ` > ${v.vertex.name}:\n`;
    for (const line of v.logs) out += line + '\n';
    for (const line of v.logsBuffer?.lines() ?? []) out += line + '\n';
    out += '------\n';
  }
  return out;
}

export type { VertexState };
