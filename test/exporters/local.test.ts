import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { outputTrees, withResultTar } from '../../exporters/index.js';
import { SnapshotAccess } from '../../solver/index.js';
import { frontendConfig, multiResult, singleResult, world, type World } from './harness.js';

const amd64 = { os: 'linux', architecture: 'amd64' };

async function tarOf(w: World, list: ReturnType<typeof outputTrees>, mtime?: number): Promise<Buffer> {
  const access = new SnapshotAccess(w.snapshotter);
  return withResultTar(access, list, { mtime, signal: new AbortController().signal }, async (tar) => {
    const parts: Buffer[] = [];
    for await (const chunk of tar) parts.push(chunk);
    return Buffer.concat(parts);
  });
}

function list(tar: Buffer, verbose = false): string[] {
  const out = spawnSync(
    'tar',
    [verbose ? '--full-time' : '', verbose ? '-tvf' : '-tf', '-'].filter(Boolean),
    {
      input: tar,
      encoding: 'utf8',
    },
  );
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.trim().split('\n');
}

describe('local and tar outputs', () => {
  let w: World;
  let amd: string;
  let arm: string;

  before(async () => {
    w = await world();
    [amd, arm] = await Promise.all([
      w.addLayer(w.base.amd64, { 'out/which.txt': 'amd64\n' }),
      w.addLayer(w.base.arm64, { 'out/which.txt': 'arm64\n' }),
    ]);
  });

  after(async () => {
    await w?.close();
  });

  const multi = () =>
    multiResult([
      { id: 'linux/amd64', ref: { snapshot: amd }, config: frontendConfig('amd64', ['true']) },
      { id: 'linux/arm64', ref: { snapshot: arm }, config: frontendConfig('arm64', ['true']) },
    ]);

  it('puts each platform of a multi-platform result under its own directory', async () => {
    const trees = outputTrees(multi(), {}, amd64);
    assert.deepEqual(
      trees.map((t) => t.prefix),
      ['linux_amd64', 'linux_arm64'],
    );
    const names = list(await tarOf(w, trees));
    assert.ok(names.includes('linux_amd64/out/which.txt'));
    assert.ok(names.includes('linux_arm64/out/which.txt'));
    assert.ok(names.includes('linux_arm64/bin/busybox'));
    const extracted = spawnSync('tar', ['-xOf', '-', 'linux_arm64/out/which.txt'], {
      input: await tarOf(w, trees),
      encoding: 'utf8',
    });
    assert.equal(extracted.stdout, 'arm64\n');
  });

  it('merges platforms with platform-split=false and splits one platform with platform-split=true', async () => {
    const merged = outputTrees(multi(), { 'platform-split': 'false' }, amd64);
    assert.deepEqual(
      merged.map((t) => t.prefix),
      [undefined, undefined],
    );
    const extracted = spawnSync('tar', ['-xOf', '-', 'out/which.txt'], {
      input: await tarOf(w, merged),
      encoding: 'utf8',
    });
    assert.equal(
      extracted.stdout,
      'amd64\narm64\n',
      'both members are there; the later one wins on extraction',
    );
    const single = outputTrees(
      singleResult({ snapshot: amd }, frontendConfig('amd64', ['true'])),
      { 'platform-split': 'true' },
      amd64,
    );
    assert.deepEqual(
      single.map((t) => t.prefix),
      ['linux_amd64'],
    );
    assert.deepEqual(
      outputTrees(singleResult({ snapshot: amd }, frontendConfig('amd64', ['true'])), {}, amd64).map(
        (t) => t.prefix,
      ),
      [undefined],
    );
  });

  it('sets every mtime to SOURCE_DATE_EPOCH when one is given', async () => {
    const lines = list(await tarOf(w, outputTrees(multi(), {}, amd64), 1_700_000_000), true);
    assert.ok(lines.length > 10);
    for (const line of lines) assert.match(line, / 2023-11-14 22:13:20 /);
  });
});
