import type { Op, OpMetadata } from '../proto/gen/pb/ops_pb.js';
import type { ProgressGroup } from './progress.js';

/** Where an op comes from in its source file (a Dockerfile line), for error messages. */
export interface SourceLocation {
  readonly filename: string;
  readonly data: Uint8Array;
  readonly language?: string;
  readonly ranges: ReadonlyArray<{
    readonly start: { readonly line: number; readonly character?: number };
    readonly end: { readonly line: number; readonly character?: number };
  }>;
}

/** What the solver needs to know about one op of a validated definition. */
export interface LlbOpView {
  readonly digest: string;
  readonly op: Op;
  readonly metadata: OpMetadata | undefined;
  readonly inputDigests: readonly string[];
  readonly name: string;
  readonly ignoreCache: boolean;
  readonly progressGroup?: ProgressGroup;
  readonly source?: SourceLocation;
}

/** The progress name of an op: its custom name, else one derived from the op like BuildKit does. */
export function vertexName(op: Op, metadata: OpMetadata | undefined): string {
  const custom = metadata?.description['llb.customname'];
  if (custom) return custom;
  switch (op.op.case) {
    case 'source':
      return op.op.value.identifier;
    case 'exec':
      return (op.op.value.meta?.args ?? []).join(' ');
    case 'file':
      return op.op.value.actions.map(fileActionName).join(', ');
    case 'merge':
      return `merge (${op.inputs.map((i) => i.digest.slice(0, 19)).join(', ')})`;
    case 'diff':
      return 'diff';
    case 'build':
      return 'build';
    default:
      return 'unknown';
  }
}

function fileActionName(action: FileActionLike): string {
  switch (action.action.case) {
    case 'copy':
      return `copy ${action.action.value.src} ${action.action.value.dest}`;
    case 'mkfile':
      return `mkfile ${action.action.value.path}`;
    case 'mkdir':
      return `mkdir ${action.action.value.path}`;
    case 'rm':
      return `rm ${action.action.value.path}`;
    case 'symlink':
      return `symlink ${action.action.value.oldpath} -> ${action.action.value.newpath}`;
    default:
      return 'unknown';
  }
}

type FileActionLike = Extract<Op['op'], { case: 'file' }>['value']['actions'][number];

export function toOpView(digest: string, op: Op, metadata: OpMetadata | undefined): LlbOpView {
  const group = metadata?.progressGroup;
  return {
    digest,
    op,
    metadata,
    inputDigests: op.inputs.map((i) => i.digest),
    name: vertexName(op, metadata),
    ignoreCache: metadata?.ignoreCache ?? false,
    ...(group ? { progressGroup: { id: group.id, name: group.name, weak: group.weak } } : {}),
  };
}
