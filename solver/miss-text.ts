import type { MissReason } from './explain.js';

/** A build arg that differs from the previous build (`undefined`: not set, the Dockerfile default). */
export interface ArgChange {
  readonly key: string;
  readonly before?: string;
  readonly after?: string;
}

const listLimit = 8;

function paths(label: string, list: readonly string[]): string[] {
  if (list.length === 0) return [];
  const shown = list.slice(0, listLimit).join(', ');
  return [`${label} ${shown}${list.length > listLimit ? ` and ${list.length - listLimit} more` : ''}`];
}

/** `command` → `its command`; `env:V` → `build arg V (1 -> 2)` when V is a changed build arg. */
function facetText(facet: string, args: readonly ArgChange[]): string {
  if (facet.startsWith('env:')) {
    const name = facet.slice(4);
    const arg = args.find((a) => a.key === name);
    return arg
      ? `build arg ${name} (${arg.before ?? 'default'} -> ${arg.after ?? 'default'})`
      : `env ${name}`;
  }
  const names: Record<string, string> = {
    command: 'its command',
    workdir: 'its working directory',
    actions: 'its file operations',
  };
  return names[facet] ?? `its ${facet}`;
}

const shortDigest = (d: string): string => d.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]+$/, '$1');

function sourceText(source: string, previous: string | undefined): string {
  const image = /^docker-image:\/\/(.+)@(sha256:[0-9a-f]+)$/;
  const now = image.exec(source);
  const then = previous ? image.exec(previous) : null;
  if (now && then && now[1] === then[1]) {
    return `the image ${now[1]} changed: ${shortDigest(then[2]!)} -> ${shortDigest(now[2]!)}`;
  }
  return previous ? `the source changed: ${source} (was ${previous})` : `the source changed: ${source}`;
}

/** One line saying why a step missed the cache; `args` are the build's changed build args. */
export function describeMiss(reason: MissReason, args: readonly ArgChange[] = []): string {
  switch (reason.kind) {
    case 'no-previous-build':
      return 'no earlier build of this target to compare with';
    case 'new-step':
      return `new step (${reason.detail})`;
    case 'step-changed':
      return reason.changes && reason.changes.length > 0
        ? `the step changed: ${reason.changes.map((c) => facetText(c, args)).join(', ')}`
        : 'the step itself changed (its command, options or environment)';
    case 'files-changed': {
      const parts = [
        ...paths('changed', reason.changed),
        ...paths('added', reason.added),
        ...paths('removed', reason.removed),
      ];
      return `files changed in ${reason.input}: ${parts.length > 0 ? parts.join('; ') : 'metadata only'}`;
    }
    case 'input-content-changed':
      return `its parent's content changed: ${reason.input}`;
    case 'parent-changed':
      return `its parent changed: ${reason.parent}`;
    case 'source-changed':
      return sourceText(reason.source, reason.previous);
    case 'not-cached-before':
      return `not in the cache: ${reason.detail}`;
  }
}
