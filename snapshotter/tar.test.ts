import { getAttribute, setAttribute } from '@napi-rs/xattr';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lchown, lstat, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LayerFormatError, readTar, type TarEntry } from './index.js';
import { chunks, craftTar } from './test-helpers.js';

const run = promisify(execFile);
const binary = Buffer.from([0xff, 0xfe, 0x80, 0x00]);
const longName = `${'d'.repeat(120)}/${'f'.repeat(90)}`;

async function entries(tar: Buffer): Promise<Array<TarEntry & { data: string }>> {
  const out: Array<TarEntry & { data: string }> = [];
  for await (const { entry, body } of readTar(chunks(tar, 333))) {
    const parts: Buffer[] = [];
    for await (const piece of body) parts.push(piece);
    out.push({ ...entry, data: Buffer.concat(parts).toString() });
  }
  return out;
}

describe('tar reader and writer', () => {
  it('reads what GNU tar writes: PAX names, binary xattrs, big uids, nanosecond mtimes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tar-'));
    try {
      const src = join(dir, 'src');
      await mkdir(join(src, 'd'.repeat(120)), { recursive: true });
      await writeFile(join(src, longName), 'long');
      await writeFile(join(src, 'bin'), 'x');
      await setAttribute(join(src, 'bin'), 'user.bin', binary);
      await lchown(join(src, 'bin'), 3_000_000, 3_000_001);
      await utimes(join(src, 'bin'), 1_700_000_000.5, 1_700_000_000.5);
      await symlink('d'.repeat(120) + '/' + 'f'.repeat(90), join(src, 'ln'));
      const tarPath = join(dir, 'a.tar');
      await run('tar', [
        '--format=pax',
        '--xattrs',
        '--xattrs-include=*',
        '-C',
        src,
        '-cf',
        tarPath,
        'bin',
        'ln',
        longName,
      ]);
      const got = await entries(await readFile(tarPath));
      const bin = got.find((e) => e.name === 'bin');
      assert.ok(bin);
      assert.equal(bin.uid, 3_000_000);
      assert.equal(bin.gid, 3_000_001);
      assert.deepEqual(bin.xattrs.get('user.bin'), binary);
      assert.deepEqual(bin.mtime, { sec: 1_700_000_000, nsec: 500_000_000 });
      assert.equal(bin.data, 'x');
      assert.equal(got.find((e) => e.type === 'symlink')?.linkname, longName);
      assert.equal(got.find((e) => e.name === longName)?.data, 'long');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes what GNU tar extracts byte for byte: binary xattrs, big ids, long names, links', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tar-'));
    try {
      const tar = craftTar([
        { name: 'd'.repeat(120), type: 'dir' },
        { name: longName, data: 'long', mode: 0o4755 },
        { name: 'cap', data: 'c', uid: 3_000_000, gid: 3_000_001, xattrs: new Map([['user.bin', binary]]) },
        { name: 'hard', type: 'link', linkname: 'cap' },
        { name: 'sym', type: 'symlink', linkname: longName, mode: 0o777 },
      ]);
      await writeFile(join(dir, 'a.tar'), tar);
      const { stdout } = await run('tar', ['-tvf', join(dir, 'a.tar'), '--numeric-owner']);
      assert.match(stdout, /3000000\/3000001/);
      const out = join(dir, 'out');
      await mkdir(out);
      await run('tar', [
        '--xattrs',
        '--xattrs-include=*',
        '--numeric-owner',
        '-C',
        out,
        '-xpf',
        join(dir, 'a.tar'),
      ]);
      assert.deepEqual(await getAttribute(join(out, 'cap'), 'user.bin'), binary);
      const cap = await lstat(join(out, 'cap'));
      assert.equal(cap.uid, 3_000_000);
      assert.equal(cap.ino, (await lstat(join(out, 'hard'))).ino);
      assert.equal((await lstat(join(out, longName))).mode & 0o7777, 0o4755);
      assert.equal(await readFile(join(out, 'sym'), 'utf8'), 'long');
      const reread = await entries(tar);
      assert.deepEqual(
        reread.map((e) => [e.name, e.type]),
        [
          [`${'d'.repeat(120)}/`, 'dir'],
          [longName, 'file'],
          ['cap', 'file'],
          ['hard', 'link'],
          ['sym', 'symlink'],
        ],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses corrupt and truncated archives', async () => {
    const tar = craftTar([{ name: 'a', data: 'hello' }]);
    const corrupt = Buffer.from(tar);
    corrupt[10] = 0x41;
    await assert.rejects(entries(corrupt), LayerFormatError);
    await assert.rejects(entries(tar.subarray(0, 600)), /input ends inside/);
  });
});
