import type { ArgInfo } from './build-args.js';
import { goJSON } from './go-json.js';
import type { Dockerfile, LineRange } from './instructions/types.js';
import { sourceRanges } from './source-ranges.js';
import type { BuildPlan } from './plan.js';
import type { StageState } from './stage-state.js';
import { tabwrite } from './tabwriter.js';

/** What a subrequest returns: the gateway result metadata BuildKit sets (`result.json`, `result.txt`, `version`). */
export interface SubrequestResult {
  readonly json: string;
  readonly text: string;
  readonly version: string;
  /** As gateway result metadata. */
  readonly metadata: Readonly<Record<string, Uint8Array>>;
}

/** The subrequests the Dockerfile frontend answers (`requestid` frontend option). */
export const subrequestIds = {
  outline: 'frontend.outline',
  targets: 'frontend.targets',
  describe: 'frontend.subrequests.describe',
} as const;

/** A BuildKit source location (`pb.Location`) as JSON: one range per line, line 0 omitted. */
function location(lines: LineRange): { ranges: { start: { line?: number }; end: { line?: number } }[] } {
  return {
    ranges: sourceRanges(lines).map((r) => ({
      start: r.start.line === 0 ? {} : { line: r.start.line },
      end: r.end.line === 0 ? {} : { line: r.end.line },
    })),
  };
}

function bytesOf(source: string | Uint8Array): Uint8Array {
  return typeof source === 'string' ? new TextEncoder().encode(source) : source;
}

function result(value: object, text: string): SubrequestResult {
  const json = goJSON(value, '  ');
  const enc = new TextEncoder();
  return {
    json,
    text,
    version: '1.0.0',
    metadata: {
      'result.json': enc.encode(json),
      'result.txt': enc.encode(text),
      version: enc.encode('1.0.0'),
    },
  };
}

/**
 * `frontend.targets`: every stage with its name, `# name description` comment, base and platform
 * as written, the last one marked default. Needs only the parsed Dockerfile. Cheap.
 */
export function listTargets(dockerfile: Dockerfile, source: string | Uint8Array): SubrequestResult {
  const last = dockerfile.stages.length - 1;
  const targets = dockerfile.stages.map((s, i) => ({
    name: s.name || undefined,
    default: i === last || undefined,
    description: s.comment || undefined,
    base: s.baseName || undefined,
    platform: s.platform || undefined,
    location: location(s.location),
  }));
  let text = 'TARGET\tDESCRIPTION\n';
  for (const t of targets) {
    const name = !t.name && t.default ? '(default)' : t.default ? `${t.name} (default)` : (t.name ?? '');
    text += `${name}\t${t.description ?? ''}\n`;
  }
  const sources = [Buffer.from(bytesOf(source)).toString('base64')];
  return result({ targets, sources }, tabwrite(text, 1));
}

interface Entry<T> {
  readonly key: string;
  readonly line: number;
  readonly order: number;
  readonly value: T;
}

/** Walks the target, then its base, then the stages it copies or mounts from, first come first served. */
function collect<T>(plan: BuildPlan, pick: (state: StageState) => Iterable<[string, T, number]>): Entry<T>[] {
  const seen = new Set<string>();
  const walked = new Set<number>();
  const out: Entry<T>[] = [];
  const walk = (index: number): void => {
    if (walked.has(index)) return;
    walked.add(index);
    const stage = plan.stages.get(index);
    if (!stage) return;
    for (const [key, value, line] of pick(stage.final)) {
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ key, line, order: out.length, value });
    }
    if (stage.node.baseStage !== undefined) walk(stage.node.baseStage);
    for (const d of stage.node.dependencies) walk(d);
  };
  walk(plan.graph.target);
  return out.sort((a, b) => a.line - b.line || a.order - b.order);
}

function usedArgs(state: StageState): Iterable<[string, ArgInfo, number]> {
  const used = new Set<string>();
  const mark = (keys: Iterable<string>): void => {
    for (const k of keys) {
      if (used.has(k)) continue;
      used.add(k);
      const info = state.outline.args.get(k);
      if (info) mark(info.deps);
    }
  };
  mark(state.outline.usedArgs);
  const out: [string, ArgInfo, number][] = [];
  for (const k of used) {
    const info = state.outline.args.get(k);
    if (info) out.push([k, info, info.location.start]);
  }
  return out;
}

/**
 * `frontend.outline`: the build arguments, secrets and SSH agents the target uses (through its
 * base and the stages it copies from), in Dockerfile order, with descriptions from comments.
 */
export function outline(plan: BuildPlan, source: string | Uint8Array): SubrequestResult {
  const target = plan.graph.nodes[plan.graph.target]!.stage;
  const args = collect(plan, usedArgs).map(({ value: a }) => ({
    name: a.definition.key,
    description: a.definition.comment || undefined,
    value: a.value || undefined,
    location: location(a.location),
  }));
  const needs = (kind: 'secrets' | 'ssh') =>
    collect(plan, (s) =>
      [...s.outline[kind]].map(([k, v]): [string, typeof v, number] => [k, v, v.location.start]),
    ).map(({ key, value }) => ({
      name: key,
      required: value.required || undefined,
      location: location(value.location),
    }));
  const secrets = needs('secrets');
  const ssh = needs('ssh');
  const doc = {
    name: target.name || undefined,
    description: target.comment || undefined,
    args: args.length ? args : undefined,
    secrets: secrets.length ? secrets : undefined,
    ssh: ssh.length ? ssh : undefined,
    sources: [Buffer.from(bytesOf(source)).toString('base64')],
  };
  let text = '';
  if (doc.name || doc.description) {
    let head = `TARGET:\t${doc.name ?? '(default)'}\n`;
    if (doc.description) head += `DESCRIPTION:\t${doc.description}\n`;
    text += `${tabwrite(head, 1)}\n`;
  }
  if (args.length) {
    const rows = args.map((a) => `${a.name}\t${a.value ?? ''}\t${a.description ?? ''}\n`).join('');
    text += `${tabwrite(`BUILD ARG\tVALUE\tDESCRIPTION\n${rows}`, 3)}\n`;
  }
  for (const [title, list] of [
    ['SECRET', secrets],
    ['SSH', ssh],
  ] as const) {
    if (!list.length) continue;
    const rows = list.map((s) => `${s.name}\t${s.required ? 'true' : ''}\n`).join('');
    text += `${tabwrite(`${title}\tREQUIRED\n${rows}`, 3)}\n`;
  }
  return result(doc, text);
}

const resultMetadata = [
  { name: 'result.json', description: '' },
  { name: 'result.txt', description: '' },
];

/** `frontend.subrequests.describe`: the subrequests this frontend supports, as BuildKit v0.11.6 lists them. */
export function describeSubrequests(): SubrequestResult {
  const request = (
    name: string,
    description: string,
    opts: { name: string; description: string }[] | null,
  ) => ({
    name,
    version: '1.0.0',
    type: 'rpc',
    description,
    opts,
    inputs: null,
    metadata: resultMetadata,
    refs: null,
  });
  const all = [
    request(subrequestIds.outline, 'List all parameters current build target supports', [
      { name: 'target', description: 'Target build stage' },
    ]),
    request(subrequestIds.targets, 'List all targets current build supports', []),
    request(subrequestIds.describe, 'List available subrequest types', null),
  ];
  const rows = all
    .map((r) => `${r.name.replace(/^frontend\./, '')}\t${r.version}\t${r.description}\n`)
    .join('');
  return result(all, tabwrite(`NAME\tVERSION\tDESCRIPTION\n${rows}`, 1));
}
