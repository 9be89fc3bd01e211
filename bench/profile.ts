import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** The part of a V8 `.cpuprofile` this summary reads. */
interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
    readonly children?: readonly number[];
  }[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface SelfTime {
  /** `function (file:line)`, file relative to the repository for kiln's own code. */
  readonly frame: string;
  readonly ms: number;
  /** Share of the busy (non-idle) time. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly files: number;
  /** Sampled time outside `(idle)`, in ms. */
  readonly busyMs: number;
  /** Self time per function. */
  readonly top: readonly SelfTime[];
  /**
   * Time charged to the innermost kiln function on the stack (its own time plus the library and
   * Node internals it called): which of our code a cost belongs to.
   */
  readonly kiln: readonly SelfTime[];
}

function frameName(frame: CpuProfile['nodes'][number]['callFrame'], repoRoot: string): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  let file = frame.url.replace(/^file:\/\//, '');
  if (file.startsWith(repoRoot)) file = relative(repoRoot, file);
  else if (file.includes('/node_modules/')) file = file.slice(file.lastIndexOf('/node_modules/') + 14);
  return `${name} (${file}:${frame.lineNumber + 1})`;
}

/**
 * Adds up self time per function over every `.cpuprofile` in `dir` (one per kilnd process) and
 * returns the `limit` largest. Reads whole profiles into memory (a few MB each).
 */
export async function summarizeProfiles(dir: string, repoRoot: string, limit = 15): Promise<ProfileSummary> {
  const totals = new Map<string, number>();
  const owners = new Map<string, number>();
  let files = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.cpuprofile')) continue;
    files++;
    const profile = JSON.parse(await readFile(join(dir, name), 'utf8')) as CpuProfile;
    const frames = new Map(profile.nodes.map((n) => [n.id, frameName(n.callFrame, repoRoot)]));
    const owner = kilnOwners(profile, repoRoot, frames);
    const samples = profile.samples ?? [];
    const deltas = profile.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      // A sample's delta is the time since the previous one; charge it to the sample's frame.
      const frame = frames.get(samples[i]!) ?? '(unknown)';
      const ms = (deltas[i] ?? 0) / 1000;
      totals.set(frame, (totals.get(frame) ?? 0) + ms);
      if (frame === '(idle)') continue;
      const mine = owner.get(samples[i]!) ?? `(outside kiln) ${frame}`;
      owners.set(mine, (owners.get(mine) ?? 0) + ms);
    }
  }
  totals.delete('(idle)');
  const busyMs = [...totals.values()].reduce((a, b) => a + b, 0);
  const largest = (m: Map<string, number>): SelfTime[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([frame, ms]) => ({ frame, ms, share: busyMs ? ms / busyMs : 0 }));
  return { files, busyMs, top: largest(totals), kiln: largest(owners) };
}

/** For every node, the name of the innermost frame on its stack that is kiln's own code. */
function kilnOwners(
  profile: CpuProfile,
  repoRoot: string,
  frames: ReadonlyMap<number, string>,
): Map<number, string> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isKiln = new Map(
    profile.nodes.map((n) => {
      const url = n.callFrame.url.replace(/^file:\/\//, '');
      return [n.id, url.startsWith(repoRoot) && !url.includes('/node_modules/')];
    }),
  );
  const owner = new Map<number, string>();
  const resolve = (id: number): string | undefined => {
    if (owner.has(id)) return owner.get(id);
    let found: string | undefined;
    if (isKiln.get(id)) found = frames.get(id);
    else {
      const p = parent.get(id);
      found = p === undefined ? undefined : resolve(p);
    }
    if (found) owner.set(id, found);
    return found;
  };
  for (const n of profile.nodes) resolve(n.id);
  return owner;
}

/** The summary as a Markdown list. */
export function renderProfile(workload: string, summary: ProfileSummary): string {
  const line = (t: SelfTime): string =>
    `    - ${t.ms.toFixed(0)} ms (${(t.share * 100).toFixed(1)}%) ${t.frame}`;
  return [
    `- ${workload}: ${summary.busyMs.toFixed(0)} ms busy over ${summary.files} processes`,
    '  - self time:',
    ...summary.top.map(line),
    '  - by innermost kiln function:',
    ...summary.kiln.map(line),
  ].join('\n');
}
