import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { applyLayer, type LocalSnapshotter, mountPointsUnder, withTempMount } from './index.js';
import { chunks, craftTar, drivers, listTree, openDb } from './test-helpers.js';

type Entries = Parameters<typeof craftTar>[0];

interface Case {
  readonly title: string;
  /** Entries, given the absolute path of the directory outside the root. */
  readonly entries: (outside: string) => Entries;
  /** A committed layer below, when the attack needs one. */
  readonly lower?: (outside: string) => Entries;
  readonly expect: 'refused' | 'contained';
  /** For contained cases: what the snapshot must show (its mounted root). */
  readonly check?: (root: string, outside: string) => Promise<void>;
}

const exists = (p: string) =>
  lstat(p).then(
    () => true,
    () => false,
  );

const cases: readonly Case[] = [
  { title: 'a ../ name', entries: () => [{ name: '../escaped', data: 'x' }], expect: 'refused' },
  {
    title: 'a name climbing through a subdirectory',
    entries: () => [{ name: 'a/../../escaped', data: 'x' }],
    expect: 'refused',
  },
  {
    title: 'an absolute name',
    entries: (o) => [{ name: `${o}/sentinel`, data: 'overwritten' }],
    expect: 'contained',
    check: async (root, o) => assert.equal(await readFile(join(root, o, 'sentinel'), 'utf8'), 'overwritten'),
  },
  {
    title: 'an absolute symlink followed by a file written through it',
    entries: (o) => [
      { name: 'evil', type: 'symlink', linkname: o },
      { name: 'evil/sentinel', data: 'overwritten' },
      { name: 'evil/new', data: 'new' },
    ],
    expect: 'contained',
    check: async (root, o) => {
      assert.equal(await readFile(join(root, o, 'sentinel'), 'utf8'), 'overwritten');
      assert.equal(await readFile(join(root, o, 'new'), 'utf8'), 'new');
    },
  },
  {
    title: 'a relative symlink climbing above the root, then a file through it',
    entries: (o) => [
      { name: 'up', type: 'symlink', linkname: '../../../../../../../..' },
      { name: `up${o}/new`, data: 'new' },
    ],
    expect: 'contained',
    check: async (root, o) => assert.equal(await readFile(join(root, o, 'new'), 'utf8'), 'new'),
  },
  {
    title: 'a file replacing a symlink that points outside',
    entries: (o) => [
      { name: 'link', type: 'symlink', linkname: `${o}/sentinel` },
      { name: 'link', data: 'replaced' },
    ],
    expect: 'contained',
    check: async (root) => {
      assert.ok((await lstat(join(root, 'link'))).isFile());
      assert.equal(await readFile(join(root, 'link'), 'utf8'), 'replaced');
    },
  },
  {
    title: 'a symlink in a lower layer, written through by the next one',
    lower: (o) => [{ name: 'lowerlink', type: 'symlink', linkname: o }],
    entries: () => [{ name: 'lowerlink/new', data: 'new' }],
    expect: 'contained',
    check: async (root, o) => assert.equal(await readFile(join(root, o, 'new'), 'utf8'), 'new'),
  },
  {
    title: 'a hardlink to ../',
    entries: (o) => [{ name: 'h', type: 'link', linkname: `../../..${o}/sentinel` }],
    expect: 'refused',
  },
  {
    title: 'a hardlink through an absolute symlink',
    entries: (o) => [
      { name: 'evil', type: 'symlink', linkname: o },
      { name: 'h', type: 'link', linkname: 'evil/sentinel' },
    ],
    expect: 'refused',
  },
  {
    title: 'a hardlink with an absolute target name',
    entries: (o) => [{ name: 'h', type: 'link', linkname: `${o}/sentinel` }],
    expect: 'refused',
  },
  { title: 'a whiteout of ..', entries: () => [{ name: '.wh...' }], expect: 'refused' },
  { title: 'a whiteout of .. in a subdirectory', entries: () => [{ name: 'etc/.wh...' }], expect: 'refused' },
  {
    title: 'a whiteout through a symlink pointing outside',
    entries: (o) => [{ name: 'evil', type: 'symlink', linkname: o }, { name: 'evil/.wh.sentinel' }],
    expect: 'contained',
  },
  {
    title: 'an opaque marker through a symlink pointing outside',
    entries: (o) => [{ name: 'evil', type: 'symlink', linkname: o }, { name: 'evil/.wh..wh..opq' }],
    expect: 'contained',
  },
  {
    title: 'a symlink loop',
    entries: () => [
      { name: 'loop1', type: 'symlink', linkname: 'loop2' },
      { name: 'loop2', type: 'symlink', linkname: 'loop1' },
      { name: 'loop1/file', data: 'x' },
    ],
    expect: 'refused',
  },
];

async function fingerprint(base: string): Promise<string[]> {
  const top = (await readdir(base)).filter((n) => n !== 'snapshots' && !n.startsWith('kiln.db')).sort();
  return [...top, ...(await listTree(join(base, 'outside'), { mtimes: true }))];
}

for (const driver of drivers) {
  describe(`applyLayer path safety (${driver.name})`, () => {
    for (const c of cases) {
      it(`${c.expect === 'refused' ? 'refuses' : 'contains'} ${c.title}`, async () => {
        const base = await mkdtemp(join(tmpdir(), 'kiln-safety-'));
        const db = openDb(base);
        const sn: LocalSnapshotter = driver.make(join(base, 'snapshots'), db);
        try {
          const outside = join(base, 'outside');
          await mkdir(outside);
          await writeFile(join(outside, 'sentinel'), 'secret');
          const before = await fingerprint(base);
          await sn.prepare('base-active');
          await applyLayer(
            sn,
            'base-active',
            chunks(
              craftTar([
                { name: 'etc', type: 'dir' },
                { name: 'etc/passwd', data: 'root' },
                ...(c.lower?.(outside) ?? []),
              ]),
            ),
          );
          await sn.commit('base', 'base-active');
          await sn.prepare('a', 'base');
          const applying = applyLayer(sn, 'a', chunks(craftTar(c.entries(outside))));
          if (c.expect === 'refused') {
            await assert.rejects(applying, (e: unknown) => {
              const code = (e as { code?: string }).code;
              assert.ok(
                code === 'KILN_SNAPSHOTTER_UNSAFE_PATH' || code === 'KILN_SNAPSHOTTER_APPLY',
                String(e),
              );
              return true;
            });
          } else {
            await applying;
            await withTempMount(await sn.mounts('a'), async (root) => {
              assert.equal(await readFile(join(root, 'etc/passwd'), 'utf8'), 'root');
              await c.check?.(root, outside);
            });
          }
          assert.deepEqual(await fingerprint(base), before);
          assert.equal(await readFile(join(outside, 'sentinel'), 'utf8'), 'secret');
          assert.equal((await lstat(join(outside, 'sentinel'))).nlink, 1);
          assert.equal(await exists(join(base, 'escaped')), false);
        } finally {
          await sn.close();
          db.close();
          assert.deepEqual(await mountPointsUnder(base), []);
          await rm(base, { recursive: true, force: true });
        }
      });
    }
  });
}
