// Test support for solver/file (not part of the public face): builds fixture trees, lists trees
// in the form the BuildKit fixtures were recorded in, and replays recorded LLB definitions.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr';
import { create, fromBinary } from '@bufbuild/protobuf';
import {
  type ChownOpt,
  ChownOptSchema,
  DefinitionSchema,
  type FileAction,
  type FileActionCopy,
  FileActionCopySchema,
  FileActionMkDirSchema,
  FileActionMkFileSchema,
  FileActionRmSchema,
  FileActionSchema,
  FileActionSymlinkSchema,
  type Op,
  OpSchema,
  UserOptSchema,
} from '../../proto/gen/pb/ops_pb.js';
import { applyFileAction, readUserDatabase } from './index.js';

const run = promisify(execFile);

/** The mtime every entry of a materialised context gets (2001-01-01). */
export const contextTime = 978307200;
/**
 * Timestamps that fixtures set on purpose, in whole seconds as BuildKit's tar exporter rounds them
 * (1600000000.5 becomes 1600000001); only these are recorded and compared.
 */
export const knownTimes = [contextTime, 1577836800, 1600000001, 1500000000];

/** An mtime (seconds) as a fixture records it: rounded, and only when it is a known time. */
export function knownTime(seconds: number): number | undefined {
  const rounded = Math.round(seconds);
  return knownTimes.includes(rounded) ? rounded : undefined;
}

/** One entry of a fixture tree, parents before children. */
export interface ContextEntry {
  readonly path: string;
  readonly type: 'dir' | 'file' | 'symlink' | 'hardlink' | 'fifo' | 'char';
  /** Octal permission string ("0644"); links ignore it. */
  readonly mode?: string;
  readonly data?: string;
  /** A file under testdata whose bytes are the content. */
  readonly source?: string;
  /** Symbolic link target, or the path (in the tree) a hardlink shares its inode with. */
  readonly target?: string;
  readonly xattrs?: Readonly<Record<string, string>>;
  readonly uid?: number;
  readonly gid?: number;
  /** "major:minor" of a device. */
  readonly rdev?: string;
}

/** Creates `entries` under `dir` (which must exist and be empty) with fixed times. */
export async function materialize(
  entries: readonly ContextEntry[],
  dir: string,
  testdata: string,
): Promise<void> {
  for (const e of entries) {
    const p = join(dir, e.path);
    const mode = Number.parseInt(e.mode ?? '0644', 8);
    switch (e.type) {
      case 'dir':
        await mkdir(p);
        break;
      case 'file':
        if (e.source !== undefined) await copyFile(join(testdata, e.source), p);
        else await writeFile(p, e.data ?? '');
        break;
      case 'symlink':
        await symlink(e.target ?? '', p);
        break;
      case 'hardlink':
        await link(join(dir, e.target ?? ''), p);
        break;
      case 'fifo':
        await run('mknod', [p, 'p']);
        break;
      case 'char': {
        const [major, minor] = (e.rdev ?? '1:3').split(':');
        await run('mknod', [p, 'c', major ?? '1', minor ?? '3']);
        break;
      }
    }
    if (e.type !== 'hardlink') await lchown(p, e.uid ?? 0, e.gid ?? 0);
    if (e.type !== 'symlink' && e.type !== 'hardlink') await chmod(p, mode);
    for (const [name, value] of Object.entries(e.xattrs ?? {})) setAttributeSync(p, name, value);
  }
  // Times last, deepest first, so creating children does not move a directory's mtime.
  for (const e of [...entries].reverse()) await lutimes(join(dir, e.path), contextTime, contextTime);
}

/** One entry of a tree listing, the unit fixtures compare. */
export interface ListedEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';
  /** Octal string of the 07777 bits (links: omitted). */
  mode?: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: string;
  /** Extended attributes other than security.*, values as UTF-8. */
  xattrs?: Record<string, string>;
  /** For files with several links inside the tree: the first path (sorted) sharing the inode. */
  hardlink?: string;
  /** Only when the mtime is one of knownTimes (seconds). */
  mtime?: number;
}

/** Lists everything under `root` (not `root` itself), sorted by path. */
export async function listTree(root: string): Promise<ListedEntry[]> {
  const out: ListedEntry[] = [];
  const inodeOf = new Map<ListedEntry, string>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const host = join(dir, name);
      const path = `${rel}/${name}`;
      const st = await lstat(host);
      const type = st.isDirectory()
        ? 'dir'
        : st.isSymbolicLink()
          ? 'symlink'
          : st.isFile()
            ? 'file'
            : st.isFIFO()
              ? 'fifo'
              : st.isCharacterDevice()
                ? 'char'
                : st.isBlockDevice()
                  ? 'block'
                  : 'socket';
      const e: ListedEntry = { path, type, uid: st.uid, gid: st.gid };
      if (type !== 'symlink') e.mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      if (type === 'file') {
        const data = await readFile(host);
        e.size = data.length;
        e.sha256 = createHash('sha256').update(data).digest('hex');
        if (st.nlink > 1) inodeOf.set(e, `${st.dev}:${st.ino}`);
      }
      if (type === 'symlink') e.target = await readlink(host);
      if (type === 'char' || type === 'block')
        e.rdev = `${Math.floor(st.rdev / 256) & 0xfff}:${st.rdev & 0xff}`;
      const xattrs: Record<string, string> = {};
      for (const n of listAttributesSync(host)) {
        if (n.startsWith('security.')) continue;
        xattrs[n] = (getAttributeSync(host, n) ?? Buffer.alloc(0)).toString('utf8');
      }
      if (Object.keys(xattrs).length > 0) e.xattrs = xattrs;
      const known = knownTime(st.mtimeMs / 1000);
      if (known !== undefined) e.mtime = known;
      out.push(e);
      if (type === 'dir') await walk(host, path);
    }
  };
  await walk(root, '');
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // Link groups are named by their first path in sorted order, whatever the walk order was.
  const firsts = new Map<string, string>();
  for (const e of out) {
    const key = inodeOf.get(e);
    if (key === undefined) continue;
    const first = firsts.get(key);
    if (first === undefined) firsts.set(key, e.path);
    else e.hardlink = first;
  }
  return out;
}

/** Copies a tree with everything (`cp -a`), for a test's private base. */
export async function copyTree(src: string, dest: string): Promise<void> {
  await run('cp', ['-a', '--', `${src}/.`, dest]);
}

/**
 * Runs a recorded LLB definition made of local sources (resolved through `locals`) and FileOps,
 * the way the solver's FileOp will: each action gets a private copy of its base and reads its
 * secondary in place. Returns the directory of the terminal result; everything is under `scratch`.
 */
export async function replayDefinition(
  bytes: Uint8Array,
  locals: Readonly<Record<string, string>>,
  scratch: string,
): Promise<string> {
  const def = fromBinary(DefinitionSchema, bytes);
  const ops = new Map<string, Op>();
  let last: Op | undefined;
  for (const b of def.def) {
    const op = fromBinary(OpSchema, b);
    ops.set(`sha256:${createHash('sha256').update(b).digest('hex')}`, op);
    last = op;
  }
  const results = new Map<string, Promise<string>>();
  const evaluate = (digest: string): Promise<string> => {
    let r = results.get(digest);
    if (r === undefined) {
      r = evaluateOp(ops.get(digest), digest);
      results.set(digest, r);
    }
    return r;
  };
  const evaluateOp = async (op: Op | undefined, digest: string): Promise<string> => {
    if (op === undefined) throw new Error(`definition has no op ${digest}`);
    if (op.op.case === 'source') {
      const name = op.op.value.identifier.replace(/^local:\/\//, '');
      const dir = locals[name];
      if (dir === undefined) throw new Error(`no local ${name}`);
      return dir;
    }
    if (op.op.case !== 'file') throw new Error(`unsupported op ${String(op.op.case)}`);
    const inputs = await Promise.all(op.inputs.map((i) => evaluate(i.digest)));
    const actions = op.op.value.actions;
    const done = new Map<number, Promise<string>>();
    const input = (index: number): Promise<string> => {
      if (index < inputs.length) return Promise.resolve(inputs[index] as string);
      const i = index - inputs.length;
      let p = done.get(i);
      if (p === undefined) {
        p = runAction(i);
        done.set(i, p);
      }
      return p;
    };
    const runAction = async (i: number): Promise<string> => {
      const action = actions[i];
      if (action === undefined) throw new Error(`no action ${i}`);
      const root = await mkdtemp(join(scratch, 'a-'));
      if (action.input !== -1n) await copyTree(await input(Number(action.input)), root);
      const secondary =
        action.secondaryInput === -1n ? undefined : await input(Number(action.secondaryInput));
      await applyFileAction(action, {
        root,
        ...(secondary === undefined ? {} : { secondary }),
        userLookup: async (n) => readUserDatabase(await input(n)),
      });
      return root;
    };
    const out = actions.findIndex((a) => a.output === 0n);
    return input(inputs.length + out);
  };
  const terminal = last?.inputs[0];
  if (terminal === undefined) throw new Error('definition has no terminal op');
  return evaluate(terminal.digest);
}

type CopyFields = Partial<Omit<FileActionCopy, '$typeName' | 'owner'>> & { owner?: ChownOpt };

/** A copy action with BuildKit's client defaults (mode and timestamp -1) and `fields` on top. */
export function copyOf(src: string, dest: string, fields: CopyFields = {}): FileAction {
  const value = create(FileActionCopySchema, { src, dest, mode: -1, timestamp: -1n, ...fields });
  return create(FileActionSchema, {
    input: 0n,
    secondaryInput: 1n,
    output: 0n,
    action: { case: 'copy', value },
  });
}

export function mkfileOf(path: string, data: string, mode = 0o644, owner?: ChownOpt): FileAction {
  const value = create(FileActionMkFileSchema, {
    path,
    data: Buffer.from(data),
    mode,
    timestamp: -1n,
    ...(owner ? { owner } : {}),
  });
  return create(FileActionSchema, {
    input: 0n,
    secondaryInput: -1n,
    output: 0n,
    action: { case: 'mkfile', value },
  });
}

export function mkdirOf(path: string, mode = 0o755, makeParents = false): FileAction {
  const value = create(FileActionMkDirSchema, { path, mode, makeParents, timestamp: -1n });
  return create(FileActionSchema, {
    input: 0n,
    secondaryInput: -1n,
    output: 0n,
    action: { case: 'mkdir', value },
  });
}

export function rmOf(path: string, allowNotFound = false, allowWildcard = false): FileAction {
  const value = create(FileActionRmSchema, { path, allowNotFound, allowWildcard });
  return create(FileActionSchema, {
    input: 0n,
    secondaryInput: -1n,
    output: 0n,
    action: { case: 'rm', value },
  });
}

export function symlinkOf(
  oldpath: string,
  newpath: string,
  fields: { owner?: ChownOpt; timestamp?: bigint } = {},
): FileAction {
  const value = create(FileActionSymlinkSchema, { oldpath, newpath, timestamp: -1n, ...fields });
  return create(FileActionSchema, {
    input: 0n,
    secondaryInput: -1n,
    output: 0n,
    action: { case: 'symlink', value },
  });
}

/** A ChownOpt from ids (numbers) or names (strings, looked up in input `input`). */
export function ownerOf(user: number | string | undefined, group?: number | string, input = 0n): ChownOpt {
  const opt = (v: number | string | undefined) =>
    v === undefined
      ? undefined
      : create(UserOptSchema, {
          user:
            typeof v === 'number'
              ? { case: 'byID', value: v }
              : { case: 'byName', value: { name: v, input, $typeName: 'pb.NamedUserOpt' } },
        });
  const u = opt(user);
  const g = opt(group);
  return create(ChownOptSchema, { ...(u ? { user: u } : {}), ...(g ? { group: g } : {}) });
}
