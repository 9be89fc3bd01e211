import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { readTar, tarHeader, tarPadding, tarTrailer } from '../snapshotter/index.js';
import { clampTarTimes } from './index.js';

const epoch = 1_700_000_000;

function paxHeader(records: string): Buffer[] {
  const body = Buffer.from(records, 'latin1');
  const h = tarHeader({
    name: 'PaxHeaders/x',
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
  });
  h[156] = 'x'.charCodeAt(0);
  // Re-seal: the type byte changed after the writer computed the checksum.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return [h, body, tarPadding(body.length)];
}

function file(name: string, data: string, mtime: number): Buffer[] {
  const body = Buffer.from(data);
  return [
    tarHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime }),
    body,
    tarPadding(body.length),
  ];
}

function record(key: string, value: string): string {
  const tail = ` ${key}=${value}\n`;
  let n = tail.length + 1;
  while (`${n}${tail}`.length !== n) n++;
  return `${n}${tail}`;
}

async function clamp(tar: Buffer, chunk = 100): Promise<Buffer> {
  const source = (async function* () {
    for (let i = 0; i < tar.length; i += chunk) yield tar.subarray(i, i + chunk);
  })();
  const out: Buffer[] = [];
  for await (const b of clampTarTimes(source, epoch, (reason) => assert.fail(reason))) out.push(b);
  return Buffer.concat(out);
}

async function entries(tar: Buffer): Promise<Array<{ name: string; mtime: number; data: string }>> {
  const out = [];
  for await (const { entry, body } of readTar(
    (async function* () {
      yield tar;
    })(),
  )) {
    const parts: Buffer[] = [];
    for await (const b of body) parts.push(b);
    out.push({ name: entry.name, mtime: entry.mtime.sec, data: Buffer.concat(parts).toString() });
  }
  return out;
}

describe('clampTarTimes', () => {
  it('clamps later ustar and PAX mtimes, keeps earlier ones and every byte of content', async () => {
    const tar = Buffer.concat([
      ...file('old.txt', 'old', epoch - 100),
      ...file('new.txt', 'x'.repeat(1500), epoch + 5000),
      ...paxHeader(record('mtime', `${epoch + 99}.5`) + record('path', 'long/name.txt')),
      ...file('short', 'pax', epoch + 99),
      tarTrailer,
    ]);
    const out = await clamp(tar, 333);
    assert.deepEqual(await entries(out), [
      { name: 'old.txt', mtime: epoch - 100, data: 'old' },
      { name: 'new.txt', mtime: epoch, data: 'x'.repeat(1500) },
      { name: 'long/name.txt', mtime: epoch, data: 'pax' },
    ]);
    const listing = spawnSync('tar', ['--full-time', '-tvf', '-'], { input: out, encoding: 'utf8' });
    assert.equal(listing.status, 0, listing.stderr);
    assert.match(listing.stdout, /2023-11-14 22:13:20 long\/name\.txt/);
  });

  it('passes a tar without later times through unchanged, whatever the chunking', async () => {
    const tar = Buffer.concat([...file('a', 'aaaa', 10), ...file('b', 'b'.repeat(700), epoch), tarTrailer]);
    for (const chunk of [1, 7, 512, 4096]) assert.ok((await clamp(tar, chunk)).equals(tar));
  });

  it('refuses a stream that ends inside an entry', async () => {
    const tar = Buffer.concat(file('a', 'a'.repeat(2000), 10)).subarray(0, 1000);
    const source = (async function* () {
      yield tar;
    })();
    await assert.rejects(
      (async () => {
        for await (const _ of clampTarTimes(source, epoch, (reason) => {
          throw new Error(reason);
        }));
      })(),
      /ends inside an entry/,
    );
  });
});
