import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { renderProfile, summarizeProfiles } from './index.js';

const run = promisify(execFile);

describe('summarizeProfiles', () => {
  it('puts a busy function of a real --cpu-prof profile at the top', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-bench-prof-'));
    try {
      const script = join(dir, 'spin.mjs');
      await writeFile(
        script,
        'function spinForAWhile() { const end = Date.now() + 300; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x; }\nspinForAWhile();\n',
      );
      await run(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, script]);
      // With `dir` as the repository, the script is "kiln": Date.now's time is charged to its caller.
      const summary = await summarizeProfiles(dir, dir);
      assert.equal(summary.files, 1);
      assert.ok(summary.busyMs >= 200, `busy ${summary.busyMs}`);
      const top = summary.top.find((t) => t.frame.startsWith('spinForAWhile'));
      assert.ok(top && top.share > 0.5, JSON.stringify(summary.top.slice(0, 3)));
      assert.equal(summary.kiln[0]?.frame, 'spinForAWhile (spin.mjs:1)');
      assert.ok(summary.kiln[0]!.ms >= top.ms);
      assert.match(
        renderProfile('spin', summary),
        /by innermost kiln function:\n {4}- \d+ ms \([\d.]+%\) spinForAWhile/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('summarises an empty or missing directory as nothing', async () => {
    const summary = await summarizeProfiles('/nonexistent/profiles', '/');
    assert.deepEqual(summary, { files: 0, busyMs: 0, top: [], kiln: [] });
  });
});
