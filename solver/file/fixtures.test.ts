import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FileActionError, FilePathNotFoundError, UnknownOwnerError } from './index.js';
import {
  type ContextEntry,
  type ListedEntry,
  listTree,
  materialize,
  replayDefinition,
} from './test-support.js';

// Every FileOp definition recorded from BuildKit v0.11.6 (testdata/fixtures.json, made by
// testdata/record-fixtures.ts from LLB built with BuildKit's Go client) is replayed through
// applyFileAction, and the resulting tree must equal BuildKit's entry by entry: type, mode, owner,
// size, content hash, link target, device, xattrs, hardlink groups and deliberate timestamps.

// Compiled to dist/solver/file/: the recorded data stays in the source tree.
const testdata = fileURLToPath(new URL('../../../solver/file/testdata/', import.meta.url));

interface Fixture {
  name: string;
  definition: string;
  buildkit: { ok: true; listing: ListedEntry[] } | { ok: false; error: string };
}

type Deviation =
  | { why: string; error: new (...args: never[]) => FileActionError }
  | { why: string; patch: (listing: ListedEntry[]) => ListedEntry[] };

/** Where kiln deliberately differs from v0.11.6 (each follows later BuildKit or the design brief). */
const deviations: Record<string, Deviation> = {
  'copy-owner-unknown-name': {
    why: 'a user missing from /etc/passwd is an error, not uid 0',
    error: UnknownOwnerError,
  },
  'copy-owner-unknown-group': {
    why: 'a group missing from /etc/group is an error, not gid 0',
    error: UnknownOwnerError,
  },
  'copy-owner-numeric-name': {
    why: 'a numeric name is an id (v0.11.6 looked "1234" up in passwd and fell back to 0)',
    patch: (l) => l.map((e) => (e.path === '/on.txt' ? { ...e, uid: 1234, gid: 1234 } : e)),
  },
  'rm-notfound': {
    why: 'a missing path fails without allowNotFound (as later BuildKit does)',
    error: FilePathNotFoundError,
  },
  'rm-notfound-parent': { why: 'as rm-notfound', error: FilePathNotFoundError },
  'unpack-owner': {
    why: 'an owner applies to unpacked entries too (as later BuildKit does)',
    patch: (l) => l.map((e) => (e.path.startsWith('/u/') ? { ...e, uid: 7, gid: 8 } : e)),
  },
};

const fixtures = (JSON.parse(await readFile(join(testdata, 'fixtures.json'), 'utf8')) as { cases: Fixture[] })
  .cases;

describe('FileOp actions against BuildKit v0.11.6 fixtures', () => {
  let work = '';
  let ctx = '';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-fileop-fixtures-'));
    ctx = join(work, 'ctx');
    const spec = JSON.parse(await readFile(join(testdata, 'context.json'), 'utf8')) as {
      entries: ContextEntry[];
    };
    await mkdir(ctx);
    await materialize(spec.entries, ctx, testdata);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('has the recorded cases', () => {
    assert.ok(fixtures.length >= 170, `only ${fixtures.length} fixtures`);
  });

  for (const fx of fixtures) {
    const deviation = deviations[fx.name];
    const label = `${fx.name}${fx.buildkit.ok ? '' : ' (fails)'}${deviation ? ` [deviation: ${deviation.why}]` : ''}`;
    it(label, async () => {
      const scratch = await mkdtemp(join(work, 'case-'));
      try {
        const problem = await check(fx, ctx, scratch);
        assert.equal(problem, undefined);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
  }
});

async function check(fx: Fixture, ctx: string, scratch: string): Promise<string | undefined> {
  const deviation = deviations[fx.name];
  let listing: ListedEntry[];
  try {
    listing = await listTree(await replayDefinition(Buffer.from(fx.definition, 'base64'), { ctx }, scratch));
  } catch (err) {
    if (deviation !== undefined && 'error' in deviation) {
      return err instanceof deviation.error
        ? undefined
        : `expected ${deviation.error.name}, got ${String(err)}`;
    }
    if (!fx.buildkit.ok) return err instanceof FileActionError ? undefined : `untyped error ${String(err)}`;
    return `failed: ${String(err)}`;
  }
  if (deviation !== undefined && 'error' in deviation)
    return `expected ${deviation.error.name} (${deviation.why})`;
  if (!fx.buildkit.ok) return `succeeded, BuildKit failed with ${fx.buildkit.error}`;
  const want =
    deviation !== undefined && 'patch' in deviation
      ? deviation.patch(fx.buildkit.listing)
      : fx.buildkit.listing;
  return diff(want, listing);
}

function diff(want: ListedEntry[], got: ListedEntry[]): string | undefined {
  const w = new Map(want.map((e) => [e.path, JSON.stringify(sorted(e))]));
  const g = new Map(got.map((e) => [e.path, JSON.stringify(sorted(e))]));
  const lines: string[] = [];
  for (const [p, v] of w) if (g.get(p) !== v) lines.push(`\n  want ${v}\n  got  ${g.get(p) ?? 'nothing'}`);
  for (const [p, v] of g) if (!w.has(p)) lines.push(`\n  extra ${v}`);
  return lines.length === 0 ? undefined : lines.join('');
}

function sorted(e: ListedEntry): Record<string, unknown> {
  return Object.fromEntries(Object.entries(e).sort(([a], [b]) => (a < b ? -1 : 1)));
}
