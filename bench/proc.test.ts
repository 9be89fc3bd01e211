import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { loadAverage, readCpuMs, readMemory, resetPeak, RssSampler } from './index.js';

/** A node child that holds `mb` MB for a moment, then frees it; it reports on stdout when done. */
async function withChild(run: (pid: number, step: () => Promise<void>) => Promise<void>): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '-e',
      `let b; process.stdin.on('data', (d) => {
         if (String(d).trim() === 'grow') { b = Buffer.alloc(96 * 2 ** 20, 1); }
         if (String(d).trim() === 'free') { b = undefined; globalThis.gc(); }
         process.stdout.write('ok\\n');
       });`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = child.stdout!.setEncoding('utf8');
  const command = async (c: string): Promise<void> => {
    child.stdin!.write(`${c}\n`);
    await once(lines, 'data');
  };
  try {
    await new Promise((r) => setTimeout(r, 200));
    let n = 0;
    await run(child.pid!, () => command(n++ === 0 ? 'grow' : 'free'));
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit').catch(() => {});
  }
}

describe('process memory', () => {
  it('sees a 96 MB allocation in VmRSS, keeps it in VmHWM, and forgets it after resetPeak', async () => {
    await withChild(async (pid, step) => {
      const before = readMemory(pid)!;
      const sampler = new RssSampler({ pid, intervalMs: 5 });
      await step(); // grow
      await new Promise((r) => setTimeout(r, 50));
      const sampled = sampler.stop();
      const grown = readMemory(pid)!;
      assert.ok(grown.rss - before.rss > 80 * 2 ** 20, `rss ${before.rss} → ${grown.rss}`);
      assert.ok(sampled >= grown.rss * 0.9, `sampled peak ${sampled}`);
      await step(); // free
      const freed = readMemory(pid)!;
      // The kernel folds per-thread RSS counters in batches, so VmHWM may trail VmRSS a little.
      assert.ok(
        freed.hwm >= grown.rss * 0.95,
        `the peak outlives the allocation: ${freed.hwm} vs ${grown.rss}`,
      );
      assert.equal(resetPeak(pid), true);
      const reset = readMemory(pid)!;
      assert.ok(reset.hwm < grown.rss - 50 * 2 ** 20, `hwm after reset ${reset.hwm}`);
    });
  });

  it('counts CPU time a process spends, and none it does not', async () => {
    await withChild(async (pid) => {
      const idle = readCpuMs(pid)!;
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(readCpuMs(pid)! - idle < 100, 'an idle process uses (almost) no CPU');
    });
    const spin = spawn(process.execPath, ['-e', 'const end = Date.now() + 400; while (Date.now() < end);']);
    let last = 0;
    const timer = setInterval(() => (last = readCpuMs(spin.pid!) ?? last), 20);
    await once(spin, 'exit');
    clearInterval(timer);
    assert.ok(last >= 150, `a 400 ms busy loop shows ${last} ms of CPU`);
  });

  it('reads nothing for a process that is gone, and a load average', () => {
    assert.equal(readMemory(2 ** 22 + 12345), undefined);
    assert.equal(readCpuMs(2 ** 22 + 12345), undefined);
    assert.ok(loadAverage() >= 0);
  });
});
