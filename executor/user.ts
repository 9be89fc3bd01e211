import { readFile } from 'node:fs/promises';
import { InvalidProcessError, UserNotFoundError } from './errors.js';
import { resolveInRoot } from './root-path.js';

/** The identity a process runs as, resolved against the rootfs. */
export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups; always contains `gid` first, as runc expects. */
  readonly additionalGids: readonly number[];
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffffffff ? n : undefined;
}

function numericOrRoot(s: string): number | undefined {
  return s === 'root' ? 0 : parseId(s);
}

async function readDbFile(root: string, path: string): Promise<string[] | undefined> {
  try {
    const text = await readFile(await resolveInRoot(root, path), 'utf8');
    return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw err;
  }
}

function parsePasswd(lines: string[]): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of lines) {
    const f = line.split(':');
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f[0] && uid !== undefined && gid !== undefined) out.push({ name: f[0], uid, gid });
  }
  return out;
}

function parseGroup(lines: string[]): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of lines) {
    const f = line.split(':');
    const gid = parseId(f[2] ?? '');
    if (f[0] && gid !== undefined)
      out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

function withPrimary(gid: number, sgids: number[]): number[] {
  return [gid, ...new Set(sgids.filter((g) => g !== gid))];
}

/**
 * Resolves a Dockerfile-style user (`name`, `uid`, `uid:gid`, `name:group`, empty = root) the way
 * runc's user lookup does: names come from the rootfs's /etc/passwd and /etc/group (read through
 * its symlinks, never outside it); a numeric uid with no passwd entry keeps gid 0; supplementary
 * groups are the groups listing the user as a member, when no group was given. `uid:gid` in
 * numbers needs no files at all. Reads at most two small files.
 * Throws UserNotFoundError for a name that has no entry (or no file to look in), and
 * InvalidProcessError for a malformed spec.
 */
export async function resolveUser(rootfs: string, spec: string): Promise<ResolvedUser> {
  const fallbackToRoot = spec === '';
  const [userPart = '', groupPart] = (fallbackToRoot ? '0' : spec).split(/:(.*)/s, 2);
  if (userPart === '' || groupPart === '') {
    throw new InvalidProcessError({ field: 'user', reason: `${JSON.stringify(spec)} is not user[:group]` });
  }
  if (groupPart !== undefined) {
    const uid = numericOrRoot(userPart);
    const gid = numericOrRoot(groupPart);
    if (uid !== undefined && gid !== undefined) return { uid, gid, additionalGids: [gid] };
  }

  const passwd = await readDbFile(rootfs, '/etc/passwd');
  const uidNum = parseId(userPart);
  const entry = parsePasswd(passwd ?? []).find(
    (e) => e.name === userPart || (uidNum !== undefined && e.uid === uidNum),
  );
  let uid: number;
  let gid = 0;
  if (entry) {
    uid = entry.uid;
    gid = entry.gid;
  } else if (uidNum !== undefined) {
    uid = uidNum;
  } else if (fallbackToRoot) {
    return { uid: 0, gid: 0, additionalGids: [0] };
  } else {
    const reason = passwd ? 'no matching entries in passwd file' : 'the rootfs has no /etc/passwd';
    throw new UserNotFoundError({ user: userPart, reason });
  }

  const groupLines = await readDbFile(rootfs, '/etc/group');
  const groups = parseGroup(groupLines ?? []);
  if (groupPart !== undefined) {
    const gidNum = parseId(groupPart);
    const group = groups.find((g) => g.name === groupPart || (gidNum !== undefined && g.gid === gidNum));
    if (group) gid = group.gid;
    else if (gidNum !== undefined) gid = gidNum;
    else {
      const reason = groupLines ? 'no matching entries in group file' : 'the rootfs has no /etc/group';
      throw new UserNotFoundError({ user: spec, reason: `group ${JSON.stringify(groupPart)}: ${reason}` });
    }
    return { uid, gid, additionalGids: [gid] };
  }
  const name = entry?.name ?? userPart;
  const sgids = groups.filter((g) => g.members.includes(name)).map((g) => g.gid);
  return { uid, gid, additionalGids: withPrimary(gid, sgids) };
}
