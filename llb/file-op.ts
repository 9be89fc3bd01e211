import { create } from '@bufbuild/protobuf';
import {
  ChownOptSchema,
  FileActionCopySchema,
  FileActionMkDirSchema,
  FileActionMkFileSchema,
  FileActionRmSchema,
  FileActionSchema,
  FileActionSymlinkSchema,
  FileOpSchema,
  InputSchema,
  OpSchema,
  UserOptSchema,
  type ChownOpt,
  type FileAction as PbFileAction,
  type Input,
  type UserOpt,
} from '../proto/gen/pb/ops_pb.js';
import {
  BoundFileAction,
  type ActionSpec,
  type CopySource,
  type FileAction,
  type Owner,
  type Timestamp,
} from './file-action.js';
import { metaKeys } from './meta.js';
import { cleanPath, isAbsPath, joinPath } from './paths.js';
import type { State } from './state.js';
import {
  opEnvelope,
  vertexConstraints,
  type MarshalContext,
  type MarshalledVertex,
  type Output,
  type Vertex,
  type VertexConstraints,
  type VertexOptions,
} from './vertex.js';

function parseId(s: string): number | undefined {
  if (s === 'root') return 0;
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= -2147483648 && n <= 2147483647 ? n : undefined;
}

function userOpt(part: number | string | undefined, base: number): UserOpt | undefined {
  if (part === undefined) return undefined;
  if (typeof part === 'string' && part !== '') {
    return create(UserOptSchema, { user: { case: 'byName', value: { name: part, input: BigInt(base) } } });
  }
  return create(UserOptSchema, { user: { case: 'byID', value: typeof part === 'number' ? part >>> 0 : 0 } });
}

function chownOpt(owner: Owner | undefined, base: number): ChownOpt | undefined {
  if (owner === undefined) return undefined;
  let parts: { user?: number | string; group?: number | string };
  if (typeof owner === 'string') {
    const colon = owner.indexOf(':');
    const [u, g] = colon < 0 ? [owner, undefined] : [owner.slice(0, colon), owner.slice(colon + 1)];
    parts = { user: parseId(u) ?? u, ...(g !== undefined ? { group: parseId(g) ?? g } : {}) };
  } else parts = owner;
  const user = userOpt(parts.user, base);
  const group = userOpt(parts.group, base);
  return create(ChownOptSchema, { ...(user ? { user } : {}), ...(group ? { group } : {}) });
}

function nanos(t: Timestamp | undefined): bigint {
  if (t === undefined) return -1n;
  return typeof t === 'bigint' ? t : BigInt(t.getTime()) * 1_000_000n;
}

/** BuildKit's normalizePath: relative paths join the parent dir; `keepSlash` keeps `/` and `/.` ends. */
function normalizePath(parent: string, p: string, keepSlash: boolean): string {
  let out = cleanPath(p);
  if (!isAbsPath(out)) out = joinPath('/', parent, out);
  if (keepSlash) {
    if (p.endsWith('/') && !out.endsWith('/')) out += '/';
    else if (p.endsWith('/.')) out = (out === '/' ? out : `${out}/`) + '.';
  }
  return out;
}

interface ActionState {
  base: number;
  input: number;
  inputRelative: ActionState | undefined;
  input2: number;
  input2Relative: ActionState | undefined;
  target: number;
  readonly action: FileAction;
}

class FileVertex implements Vertex {
  readonly kind = 'file' as const;

  constructor(
    private readonly action: FileAction,
    private readonly constraints: VertexConstraints,
  ) {}

  inputs(): readonly Output[] {
    const outputs = new Set<Output>();
    const visited = new Set<FileAction>();
    this.walk(this.action, visited, (o) => outputs.add(o));
    return [...outputs];
  }

  // Visits the chain in the order marshal assigns input indexes (BuildKit's marshalState.add).
  private walk(a: FileAction, visited: Set<FileAction>, use: (o: Output) => void): void {
    if (visited.has(a)) return;
    if (a.prev) this.walk(a.prev, visited, use);
    if (a.state?.output) use(a.state.output);
    if (a.spec.kind === 'copy') {
      const from = a.spec.from;
      if (from instanceof BoundFileAction) this.walk(from.action, visited, use);
      else if (from.output) use(from.output);
    }
    visited.add(a);
  }

  marshal(ctx: MarshalContext): MarshalledVertex {
    const inputs: Input[] = [];
    const states: ActionState[] = [];
    const visited = new Map<FileAction, ActionState>();
    const addInput = (o: Output): number => {
      const ref = ctx.input(o);
      const index = BigInt(ref.index);
      const found = inputs.findIndex((i) => i.digest === ref.digest && i.index === index);
      if (found >= 0) return found;
      inputs.push(create(InputSchema, { digest: ref.digest, index }));
      return inputs.length - 1;
    };
    const add = (a: FileAction): ActionState => {
      const known = visited.get(a);
      if (known) return known;
      const prev = a.prev ? add(a.prev) : undefined;
      const st: ActionState = {
        base: -1,
        input: -1,
        inputRelative: undefined,
        input2: -1,
        input2Relative: undefined,
        target: 0,
        action: a,
      };
      if (a.state?.output) st.base = addInput(a.state.output);
      if (prev) st.inputRelative = prev;
      else st.input = st.base;
      if (a.spec.kind === 'copy') {
        const from = a.spec.from;
        if (from instanceof BoundFileAction) st.input2Relative = add(from.action);
        else if (from.output) st.input2 = addInput(from.output);
      }
      st.target = states.length;
      visited.set(a, st);
      states.push(st);
      return st;
    };
    add(this.action);

    const caps = new Set(['file.base']);
    const actions: PbFileAction[] = states.map((st, i) => {
      const parent = st.action.state?.getDir() ?? '';
      const index = (direct: number, rel: ActionState | undefined): bigint =>
        BigInt(rel ? inputs.length + rel.target : direct);
      return create(FileActionSchema, {
        input: index(st.input, st.inputRelative),
        secondaryInput: index(st.input2, st.input2Relative),
        output: i + 1 === states.length ? 0n : -1n,
        action: protoAction(st.action.spec, parent, st.base, caps),
      });
    });
    const platform = this.constraints.platform ?? this.action.state?.value(metaKeys.platform);
    const envelope = opEnvelope(ctx, { ...this.constraints, platform }, caps);
    return {
      op: create(OpSchema, {
        inputs,
        op: { case: 'file', value: create(FileOpSchema, { actions }) },
        platform: envelope.platform,
        constraints: envelope.constraints,
      }),
      metadata: envelope.metadata,
      sourceLocations: this.constraints.sourceLocations,
    };
  }
}

function copySourcePath(from: CopySource, src: string): string {
  const p = cleanPath(src);
  if (isAbsPath(p)) return p;
  const state = from instanceof BoundFileAction ? from.action.state : from;
  return joinPath('/', state?.getDir() ?? '', p);
}

// HEAD-only features record their caps (BuildKit's client means to, but its loop over actions
// runs before the actions are collected, so it never does); v0.11.6 ones stay as Go writes them.
function protoAction(
  spec: ActionSpec,
  parent: string,
  base: number,
  caps: Set<string>,
): PbFileAction['action'] {
  switch (spec.kind) {
    case 'mkdir':
      return {
        case: 'mkdir',
        value: create(FileActionMkDirSchema, {
          path: normalizePath(parent, spec.path, false),
          mode: spec.mode & 0o777,
          makeParents: spec.makeParents === true,
          owner: chownOpt(spec.owner, base),
          timestamp: nanos(spec.createdTime),
        }),
      };
    case 'mkfile':
      return {
        case: 'mkfile',
        value: create(FileActionMkFileSchema, {
          path: normalizePath(parent, spec.path, false),
          mode: spec.mode & 0o777,
          data: spec.data,
          owner: chownOpt(spec.owner, base),
          timestamp: nanos(spec.createdTime),
        }),
      };
    case 'rm':
      return {
        case: 'rm',
        value: create(FileActionRmSchema, {
          path: normalizePath(parent, spec.path, false),
          allowNotFound: spec.allowNotFound === true,
          allowWildcard: spec.allowWildcard === true,
        }),
      };
    case 'symlink':
      caps.add('file.symlink.create');
      return {
        case: 'symlink',
        value: create(FileActionSymlinkSchema, {
          oldpath: spec.oldpath,
          newpath: spec.newpath,
          owner: chownOpt(spec.owner, base),
          timestamp: nanos(spec.createdTime),
        }),
      };
    case 'copy': {
      if (typeof spec.mode === 'string') caps.add('file.copy.modestring');
      if (spec.alwaysReplaceExistingDestPaths) caps.add('file.copy.alwaysreplaceexistingdestpaths');
      return {
        case: 'copy',
        value: create(FileActionCopySchema, {
          src: copySourcePath(spec.from, spec.src),
          dest: normalizePath(parent, spec.dest, true),
          owner: chownOpt(spec.owner, base),
          includePatterns: [...(spec.includePatterns ?? [])],
          excludePatterns: [...(spec.excludePatterns ?? [])],
          allowWildcard: spec.allowWildcard === true,
          allowEmptyWildcard: spec.allowEmptyWildcard === true,
          followSymlink: spec.followSymlinks === true,
          dirCopyContents: spec.copyDirContentsOnly === true,
          attemptUnpackDockerCompatibility: spec.attemptUnpack === true,
          createDestPath: spec.createDestPath === true,
          timestamp: nanos(spec.createdTime),
          alwaysReplaceExistingDestPaths: spec.alwaysReplaceExistingDestPaths === true,
          mode: spec.mode === undefined ? -1 : typeof spec.mode === 'number' ? spec.mode | 0 : 0,
          modeStr: typeof spec.mode === 'string' ? spec.mode : '',
        }),
      };
    }
  }
}

/** `state.file(action, options)`: one FileOp running the whole chain on `state`. */
export function fileOp(state: State, action: FileAction, options: VertexOptions): State {
  const vertex = new FileVertex(action.bind(state), vertexConstraints(options));
  return state.withOutput({ vertex, index: 0 });
}
