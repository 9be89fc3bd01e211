import type { ChownOpt, UserOpt } from '../../proto/gen/pb/ops_pb.js';
import { InvalidFileActionError, UnknownOwnerError } from './errors.js';

/** Numeric ownership applied to what an action creates. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** The text of an input's `/etc/passwd` and `/etc/group` (undefined when the file is missing). */
export interface UserDatabase {
  readonly passwd?: string;
  readonly group?: string;
}

/**
 * Reads the user database of the FileOp input (or earlier action result) a `NamedUserOpt.input`
 * names. The op resolves the index exactly as it resolves an action's `input`.
 */
export type UserLookup = (input: number) => Promise<UserDatabase>;

/**
 * The owner a ChownOpt asks for, as BuildKit reads it: no ChownOpt keeps the source ownership
 * (undefined); otherwise uid and gid start at 0, a user by id sets both to that id, a user by name
 * takes uid and primary gid from passwd, and a group (by id or from group) replaces the gid.
 * Unlike BuildKit, which silently falls back to 0, a name missing from the database throws
 * UnknownOwnerError; a name made of digits is taken as an id and `root` is 0 even without passwd.
 */
export async function resolveOwner(
  chown: ChownOpt | undefined,
  lookup: UserLookup | undefined,
): Promise<Owner | undefined> {
  if (chown === undefined) return undefined;
  let uid = 0;
  let gid = 0;
  const user = userSpec(chown.user);
  if (user !== undefined) {
    if (typeof user === 'number') {
      uid = user;
      gid = user;
    } else {
      const entry = await findEntry(user, 'passwd', lookup);
      uid = entry.id;
      gid = entry.gid;
    }
  }
  const group = userSpec(chown.group);
  if (group !== undefined) {
    gid = typeof group === 'number' ? group : (await findEntry(group, 'group', lookup)).id;
  }
  return { uid, gid };
}

/** The inputs whose user databases resolving `chown` reads (for cache selectors and prefetching). */
export function ownerInputs(
  chown: ChownOpt | undefined,
): { input: number; path: '/etc/passwd' | '/etc/group' }[] {
  const out: { input: number; path: '/etc/passwd' | '/etc/group' }[] = [];
  if (chown?.user?.user.case === 'byName')
    out.push({ input: Number(chown.user.user.value.input), path: '/etc/passwd' });
  if (chown?.group?.user.case === 'byName')
    out.push({ input: Number(chown.group.user.value.input), path: '/etc/group' });
  return out;
}

type Spec = number | { name: string; input: number };

function userSpec(opt: UserOpt | undefined): Spec | undefined {
  switch (opt?.user.case) {
    case 'byID':
      return opt.user.value;
    case 'byName': {
      const { name, input } = opt.user.value;
      if (/^[0-9]+$/.test(name) && Number(name) <= 0xffffffff) return Number(name);
      return { name, input: Number(input) };
    }
    default:
      return undefined;
  }
}

async function findEntry(
  spec: { name: string; input: number },
  database: 'passwd' | 'group',
  lookup: UserLookup | undefined,
): Promise<{ id: number; gid: number }> {
  if (spec.input < 0) {
    throw new InvalidFileActionError({
      action: 'chown',
      reason: `owner ${spec.name} names no input (index ${spec.input})`,
    });
  }
  const db = lookup === undefined ? {} : await lookup(spec.input);
  const text = database === 'passwd' ? db.passwd : db.group;
  const entry = text === undefined ? undefined : parseEntries(text).find((e) => e.name === spec.name);
  if (entry !== undefined) return entry;
  if (spec.name === 'root') return { id: 0, gid: 0 };
  throw new UnknownOwnerError({ name: spec.name, database, input: spec.input });
}

/** `name:x:id:gid:…` lines (passwd) or `name:x:id:…` lines (group, gid unused); blank lines skipped. */
function parseEntries(text: string): { name: string; id: number; gid: number }[] {
  const out: { name: string; id: number; gid: number }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const fields = line.split(':');
    out.push({ name: fields[0] ?? '', id: toId(fields[2]), gid: toId(fields[3]) });
  }
  return out;
}

function toId(field: string | undefined): number {
  const n = Number.parseInt(field ?? '', 10);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}
