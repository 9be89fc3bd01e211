import type { Command } from '../cli/command.js';
import { ClientUsageError } from '../errors.js';
import { tabwrite } from '../format/tabwriter.js';

/** Why a step ran instead of coming from the cache (kilnd's `kiln.v1.Insight` JSON). */
export type MissReason =
  | { readonly kind: 'no-previous-build' }
  | { readonly kind: 'new-step'; readonly detail: string }
  /** `changes`: which parts of the op changed (`command`, `env:NAME`, `mounts`…), when known. */
  | { readonly kind: 'step-changed'; readonly changes?: readonly string[] }
  | {
      readonly kind: 'files-changed';
      readonly input: string;
      readonly added: readonly string[];
      readonly removed: readonly string[];
      readonly changed: readonly string[];
    }
  | { readonly kind: 'input-content-changed'; readonly input: string }
  | { readonly kind: 'parent-changed'; readonly parent: string }
  | { readonly kind: 'source-changed'; readonly source: string; readonly previous?: string }
  | { readonly kind: 'not-cached-before'; readonly detail: string };

export interface ExplainedStep {
  readonly digest: string;
  readonly name: string;
  /** `cached`, `done` (ran), `failed`, or `waiting`/`running` for steps a failed build never finished. */
  readonly state: string;
  readonly durationMs: number;
  readonly reason?: MissReason;
  /** The reason in one line, as the daemon words it. */
  readonly summary?: string;
}

/** A finished build explained: every step, the cache misses' reasons and the critical path. */
export interface Explanation {
  readonly ref: string;
  /** The build it was compared with (the previous build of the same target). */
  readonly previous?: string;
  readonly argsChanged: ReadonlyArray<{
    readonly key: string;
    readonly before?: string;
    readonly after?: string;
  }>;
  readonly steps: readonly ExplainedStep[];
  readonly criticalPath: readonly ExplainedStep[];
  readonly totalMs: number;
}

/** `850ms`, `1.25s`, `2m05s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

const nameLimit = 80;

/**
 * A step name for one table cell: tabs and newlines (Dockerfile heredocs) would break the table,
 * and pinned image digests make FROM lines too wide to read.
 */
function oneLine(text: string): string {
  const flat = shortenDigests(text.replace(/[\t\r\n]+/g, ' '));
  return flat.length > nameLimit ? `${flat.slice(0, nameLimit - 1)}…` : flat;
}

function shortenDigests(text: string): string {
  return text.replace(/@(sha256:[0-9a-f]{12})[0-9a-f]{52}/g, '@$1…');
}

/** The text report `kilnctl explain` prints. */
export function formatExplanation(e: Explanation): string {
  const ran = e.steps.filter((s) => s.state === 'done' || s.state === 'failed');
  const cached = e.steps.filter((s) => s.state === 'cached').length;
  let out = `Build ${e.ref}: ${ran.length} of ${e.steps.length} steps ran, ${cached} from the cache, ${formatDuration(e.totalMs)}\n`;
  out += e.previous
    ? `Compared with ${e.previous}, the previous build of the same target.\n`
    : 'No earlier build of the same target to compare with.\n';
  if (e.argsChanged.length > 0) {
    out += '\nBuild args changed:\n';
    for (const a of e.argsChanged) out += `  ${a.key}: ${a.before ?? 'default'} -> ${a.after ?? 'default'}\n`;
  }
  out += '\nCache misses:\n';
  if (ran.length === 0) out += '  none: every step came from the cache\n';
  let table = '';
  for (const s of ran) {
    const why = s.state === 'failed' ? 'failed' : (s.summary ?? s.reason?.kind ?? '');
    // Reasons name parent steps, with their pinned digests.
    table += `  ${oneLine(s.name)}\t${formatDuration(s.durationMs)}\t${shortenDigests(why)}\n`;
  }
  out += tabwrite(table, { minWidth: 0, tabWidth: 8, padding: 2, padChar: ' ' });
  const pathMs = e.criticalPath.reduce((sum, s) => sum + s.durationMs, 0);
  out += `\nCritical path (${formatDuration(pathMs)} of ${formatDuration(e.totalMs)}):\n`;
  table = '';
  for (const s of e.criticalPath) {
    const note = s.state === 'done' ? '' : s.state;
    table += `  ${oneLine(s.name)}\t${formatDuration(s.durationMs)}\t${note}\n`;
  }
  out += tabwrite(table, { minWidth: 0, tabWidth: 8, padding: 2, padChar: ' ' });
  return out.replace(/ +\n/g, '\n');
}

/** `kilnctl explain [REF]`: why a build's steps missed the cache, and its critical path. */
export const explainCommand: Command = {
  name: 'explain',
  usage: 'explain why steps of a build missed the cache, and its critical path (kilnd only)',
  argsUsage: '[ref]',
  description:
    'Compares a finished build (the most recent one by default) with the previous build of the same target.',
  flags: [{ name: 'format', kind: 'string', usage: 'Format the output: text or json', default: 'text' }],
  async run(ctx) {
    const format = ctx.flags.string('format');
    if (format !== 'text' && format !== 'json') {
      throw new ClientUsageError({ message: `unknown format ${JSON.stringify(format)}`, option: '--format' });
    }
    if (ctx.flags.args.length > 1) {
      throw new ClientUsageError({ message: 'explain takes at most one build ref' });
    }
    const ref = ctx.flags.args[0];
    const client = await ctx.client();
    const json = await client.explain({ ...(ref ? { ref } : {}), signal: ctx.signal });
    if (format === 'json') {
      ctx.stdout.write(JSON.stringify(JSON.parse(json), null, 2) + '\n');
      return;
    }
    ctx.stdout.write(formatExplanation(JSON.parse(json) as Explanation));
  },
};
