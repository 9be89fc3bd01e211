import type { Stats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { resolveInRoot } from '../executor/index.js';
import { SolveRequestError } from './errors.js';
import type { SnapshotFiles } from './gateway.js';
import type { FileStat } from './gateway-client.js';
import type { ResultRef } from './op.js';
import type { SnapshotAccess } from './snapshot-access.js';
import { PatternMatcher } from '../llb/index.js';

/** Go os.FileMode bits for a node `fs.Stats`, as fsutil Stat carries them. */
function goMode(s: Stats): number {
  let mode = s.mode & 0o777;
  if (s.mode & 0o4000) mode |= 1 << 23;
  if (s.mode & 0o2000) mode |= 1 << 22;
  if (s.mode & 0o1000) mode |= 1 << 20;
  if (s.isDirectory()) mode |= 0x80000000;
  else if (s.isSymbolicLink()) mode |= 1 << 27;
  else if (s.isFIFO()) mode |= 1 << 25;
  else if (s.isSocket()) mode |= 1 << 24;
  else if (s.isCharacterDevice()) mode |= (1 << 26) | (1 << 21);
  else if (s.isBlockDevice()) mode |= 1 << 26;
  return mode >>> 0;
}

async function statOf(host: string, path: string): Promise<FileStat> {
  const s = await lstat(host);
  return {
    path,
    mode: goMode(s),
    uid: s.uid,
    gid: s.gid,
    size: s.isFile() ? s.size : 0,
    modTime: BigInt(Math.trunc(s.mtimeMs)) * 1_000_000n,
    linkname: s.isSymbolicLink() ? await readlink(host) : '',
  };
}

function notFound(path: string, cause: unknown): never {
  throw new SolveRequestError(`${path}: no such file or directory`, 'not-found', { cause });
}

/** ReadFile, ReadDir and StatFile over results, for frontends (paths resolved inside the result). */
export class ResultFiles implements SnapshotFiles {
  constructor(private readonly access: SnapshotAccess) {}

  async readFile(
    ref: ResultRef,
    path: string,
    range?: { offset: number; length: number },
  ): Promise<Uint8Array> {
    if (!ref.snapshot) notFound(path, undefined);
    return this.access.withTree(ref.snapshot, async (root) => {
      const host = await resolveInRoot(root, path);
      const handle = await open(host, 'r').catch((err: unknown) => notFound(path, err));
      try {
        if (!range || range.length === 0) return new Uint8Array(await handle.readFile());
        const buffer = Buffer.alloc(range.length);
        const { bytesRead } = await handle.read(buffer, 0, range.length, range.offset);
        return new Uint8Array(buffer.subarray(0, bytesRead));
      } finally {
        await handle.close();
      }
    });
  }

  async readDir(ref: ResultRef, path: string, includePattern?: string): Promise<FileStat[]> {
    if (!ref.snapshot) return [];
    return this.access.withTree(ref.snapshot, async (root) => {
      const host = await resolveInRoot(root, path);
      const names = (await readdir(host).catch((err: unknown) => notFound(path, err))).sort();
      const matcher = includePattern ? new PatternMatcher([includePattern]) : undefined;
      const kept = matcher ? names.filter((n) => matcher.matches(n)) : names;
      return Promise.all(kept.map((n) => statOf(join(host, n), n)));
    });
  }

  async stat(ref: ResultRef, path: string): Promise<FileStat> {
    if (!ref.snapshot) notFound(path, undefined);
    return this.access.withTree(ref.snapshot, async (root) => {
      const host = await resolveInRoot(root, path);
      return statOf(host, relative(root, host) || '.').catch((err: unknown) => notFound(path, err));
    });
  }
}
