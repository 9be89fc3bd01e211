import { formatBytes } from '../format/units.js';
import { formatSeconds } from './format.js';
import { intervalDuration, mergeIntervals, type Interval } from './intervals.js';
import type { ProgressTrace, VertexState } from './trace.js';

/** ANSI colours of the tty display; all empty under NO_COLOR. */
export interface TtyColors {
  readonly run: string;
  readonly cancel: string;
  readonly error: string;
  readonly faint: string;
}

export const ansiColors: TtyColors = {
  run: '\x1b[34m',
  cancel: '\x1b[33m',
  error: '\x1b[31m',
  faint: '\x1b[2m',
};
export const noColors: TtyColors = { run: '', cancel: '', error: '', faint: '' };

interface Job {
  readonly name: string;
  readonly intervals: Interval[];
  readonly isCompleted: boolean;
  readonly status: string;
  readonly hasError: boolean;
  readonly isCanceled: boolean;
  readonly vertex?: VertexState;
  showTerm: boolean;
}

const termHeight = 6;
const termPad = 10;

function jobsOf(t: ProgressTrace): Job[] {
  const shift = (ms: number | undefined): number | undefined =>
    ms === undefined ? undefined : ms + t.localTimeDiff;
  const jobs: Job[] = [];
  for (const v of t.vertexes) {
    const error = v.vertex.error;
    const canceled = error !== '' && error.endsWith('context canceled');
    let name = v.vertex.name.replaceAll('\t', ' ');
    if (error !== '') name = (canceled ? 'CANCELED ' : 'ERROR ') + name;
    if (v.vertex.cached) name = 'CACHED ' + name;
    const intervals = [...v.intervals.values()].map((i) => ({
      start: i.start + t.localTimeDiff,
      stop: shift(i.stop),
    }));
    jobs.push({
      name,
      intervals: mergeIntervals(
        intervals.map((i) => (i.stop === undefined ? { start: i.start } : (i as Interval))),
      ),
      isCompleted: [...v.intervals.values()].every((i) => i.stop !== undefined),
      status: '',
      hasError: error !== '' && !canceled,
      isCanceled: canceled,
      vertex: v,
      showTerm: false,
    });
    for (const s of v.statuses) {
      const cur = v.byId.get(s.id) ?? s;
      const status =
        cur.total !== 0
          ? `${formatBytes(cur.current)} / ${formatBytes(cur.total)}`
          : cur.current !== 0
            ? formatBytes(cur.current)
            : '';
      const start = cur.started ? cur.started.getTime() + t.localTimeDiff : undefined;
      jobs.push({
        name: '=> ' + cur.id,
        intervals:
          start === undefined
            ? []
            : [{ start, ...(cur.completed ? { stop: cur.completed.getTime() + t.localTimeDiff } : {}) }],
        isCompleted: cur.completed !== undefined,
        status,
        hasError: false,
        isCanceled: false,
        showTerm: false,
      });
    }
    for (const w of v.warnings) {
      const ival = v.mostRecentInterval();
      jobs.push({
        name: 'WARN: ' + Buffer.from(w.short).toString('utf8'),
        intervals: ival
          ? [
              {
                start: ival.start + t.localTimeDiff,
                ...(ival.stop ? { stop: ival.stop + t.localTimeDiff } : {}),
              },
            ]
          : [],
        isCompleted: false,
        status: '',
        hasError: false,
        isCanceled: true,
        showTerm: false,
      });
    }
  }
  return jobs;
}

/** Keeps the last `limit` jobs, pulling running jobs that were cut back into view. */
function wrapHeight(jobs: Job[], limit: number): Job[] {
  if (limit < 0) return [];
  if (jobs.length <= limit) return jobs;
  let wrapped = jobs.slice(jobs.length - limit);
  const invisible = jobs.slice(0, jobs.length - limit).filter((j) => !j.isCompleted);
  if (invisible.length > 0) {
    let l = invisible.length;
    const rewrapped: Job[] = [];
    for (const j of wrapped) {
      if (!j.isCompleted || l <= 0) rewrapped.push(j);
      l--;
    }
    const free = wrapped.length - rewrapped.length;
    wrapped = [...invisible.slice(invisible.length - free), ...rewrapped];
  }
  return wrapped;
}

/**
 * The interactive display: a `[+] Building 3.2s (5/9)` header and one line per step and status
 * with its timer, redrawn in place; the output of the busiest running steps appears faint below
 * them; finished lines are coloured (blue done, yellow cancelled, red failed).
 */
export class TtyDisplay {
  #lineCount = 0;
  #repeated = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly options: {
      colors: TtyColors;
      size: () => { width: number; height: number };
      phase?: string;
    },
  ) {}

  render(t: ProgressTrace, all: boolean): void {
    const { width, height } = this.options.size();
    const colors = this.options.colors;
    const now = t.now();
    let jobs = jobsOf(t);
    const inUse = jobs.filter((j) => !j.isCompleted).length;
    const candidates = jobs
      .filter((j) => j.vertex && j.vertex.termBytes > 0 && !j.isCompleted)
      .sort(
        (a, b) =>
          b.vertex!.termBytes + b.vertex!.termCount * 50 - (a.vertex!.termBytes + a.vertex!.termCount * 50),
      );
    let free = height - 2 - inUse;
    let hide = 0;
    for (const c of candidates) {
      if (free <= termHeight + 3) break;
      c.showTerm = true;
      hide += c.vertex!.term.filter((l) => l.trim() !== '').length;
      free -= termHeight + 3;
    }
    if (!all) jobs = wrapHeight(jobs, height - 2 - hide);

    let out = this.#repeated ? `\x1b[${this.#lineCount + 1}A\r` : '\r';
    this.#repeated = true;
    out += '\x1b[?25l';
    let total = 0;
    let done = 0;
    for (const [digest, v] of t.byDigest) {
      if (v.vertex.digest !== digest || v.hidden) continue;
      total++;
      if (v.isCompleted()) done++;
    }
    const start = t.startTime !== undefined ? t.startTime + t.localTimeDiff : now;
    const finished = done > 0 && done === total && all ? 'FINISHED' : '';
    out +=
      align(
        `[+] ${this.options.phase ?? 'Building'} ${formatSeconds((now - start) / 1000)}s (${done}/${total}) ${finished}`,
        '',
        width,
      ) + '\n';
    let lines = 0;
    for (const j of jobs) {
      if (j.intervals.length === 0) continue;
      let dt = j.intervals.reduce((sum, i) => sum + intervalDuration(i, now), 0) / 1000;
      if (dt < 0.05) dt = 0;
      const timer = ` ${formatSeconds(dt).padStart(3)}s`;
      let left = width - 4 - timer.length - 1;
      let showStatus = false;
      if (j.status !== '' && left + j.status.length > 20) {
        showStatus = true;
        left -= j.status.length + 1;
      }
      if (left < 12) continue;
      let line = ' => ' + (j.name.length > left ? j.name.slice(0, left) : j.name);
      if (showStatus) line += ' ' + j.status;
      line = align(line, timer, width) + '\n';
      if (j.isCompleted) {
        const color = j.isCanceled ? colors.cancel : j.hasError ? colors.error : colors.run;
        if (color) line = color + line + '\x1b[0m';
      }
      out += line;
      lines++;
      if (j.showTerm && j.vertex) {
        for (const l of j.vertex.term) {
          if (l.trim() === '') continue;
          const text = ` => => # ${l.slice(0, width - termPad)}\n`;
          out += colors.faint ? colors.faint + text + '\x1b[0m' : text;
          lines++;
        }
        j.vertex.termCount++;
      }
    }
    const diff = this.#lineCount - lines;
    if (diff > 0) {
      out += (' '.repeat(width) + '\n').repeat(diff);
      out += `\x1b[${diff}A\r`;
    }
    this.#lineCount = lines;
    out += '\x1b[?25h';
    this.write(out);
  }
}

function align(left: string, right: string, width: number): string {
  return left.padEnd(width - right.length - 1) + ' ' + right;
}
