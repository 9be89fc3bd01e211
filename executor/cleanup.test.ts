import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  ContainerStartError,
  ExecCanceledError,
  ExecError,
  type ExecMount,
  RuncExecutor,
  StepLog,
  mountsUnder,
} from './index.js';
import { capture, overlayRootfs, processesWith, runOptions } from './test-rootfs.js';

const exec = promisify(execFile);

describe('RuncExecutor cleanup', () => {
  let root: string;
  let executor: RuncExecutor;
  const runtimeRoot = () => join(root, 'runtime');

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-executor-'));
    executor = new RuncExecutor({ root });
  });

  after(async () => {
    await executor.recover();
    await rm(root, { recursive: true, force: true });
  });

  async function assertNothingLeft(marker: string): Promise<void> {
    assert.deepEqual(await mountsUnder(root), [], 'no mounts of the executor remain');
    const { stdout } = await exec('runc', ['--root', runtimeRoot(), 'list', '--quiet']);
    assert.equal(stdout.trim(), '', 'no runc containers remain');
    assert.deepEqual(await readdir(join(root, 'bundles')), [], 'no bundle directories remain');
    assert.deepEqual(await processesWith(marker), [], 'no container processes remain');
    assert.deepEqual(await processesWith(runtimeRoot()), [], 'no runtime processes remain');
  }

  it('kills an aborted step within a second and leaves nothing behind', async () => {
    const fs = await overlayRootfs();
    const marker = 'kiln-abort-marker-1';
    try {
      const ac = new AbortController();
      const running = executor.run(
        { args: ['sh', '-c', `sleep 10; echo ${marker}`] },
        runOptions(fs.mounts, capture(), { signal: ac.signal, mounts: [{ kind: 'tmpfs', dest: '/t' }] }),
      );
      setTimeout(() => ac.abort(), 500);
      const t0 = Date.now();
      await assert.rejects(
        running,
        (err: unknown) => err instanceof ExecCanceledError && err.kind === 'canceled',
      );
      const took = Date.now() - t0 - 500;
      assert.ok(took < 1000, `abort took ${took} ms`);
      await assertNothingLeft(marker);
      await assert.rejects(
        executor.run({ args: ['true'] }, runOptions(fs.mounts, capture(), { signal: AbortSignal.abort() })),
        ExecCanceledError,
      );
    } finally {
      await fs.dispose();
    }
  });

  it(
    'leaves no mounts, containers, bundles or processes after 20 mixed runs',
    { timeout: 120_000 },
    async () => {
      const marker = 'kiln-mixed-marker-2';
      const secret = 'mixed-secret-42';
      const outcomes = { ok: 0, failed: 0, startFailed: 0, canceled: 0 };
      const one = async (i: number): Promise<void> => {
        const fs = await overlayRootfs();
        const snap = await overlayRootfs();
        try {
          await mkdir(join(snap.upper, 'sel'));
          await writeFile(join(snap.upper, 'sel', 'f'), 'x');
          const mounts: ExecMount[] = [
            { kind: 'tmpfs', dest: '/tmp/t' },
            {
              kind: 'secret',
              dest: '/run/secrets/s',
              data: Buffer.from(secret),
              uid: 0,
              gid: 0,
              mode: 0o400,
            },
            { kind: 'snapshot', dest: '/sel', mounts: snap.mounts, selector: 'sel', readonly: true },
          ];
          const ac = new AbortController();
          const kind = i % 4;
          const args =
            kind === 2
              ? ['/does/not/exist']
              : [
                  'sh',
                  '-c',
                  kind === 0 ? `sleep 5; : ${marker}` : `cat /sel/f; exit ${kind === 1 ? 1 : 0}; : ${marker}`,
                ];
          if (kind === 0) setTimeout(() => ac.abort(), 200 + i * 10);
          try {
            await executor.run({ args }, runOptions(fs.mounts, capture(), { mounts, signal: ac.signal }));
            outcomes.ok++;
          } catch (err) {
            if (err instanceof ExecCanceledError) outcomes.canceled++;
            else if (err instanceof ContainerStartError) outcomes.startFailed++;
            else if (err instanceof ExecError) outcomes.failed++;
            else throw err;
          }
        } finally {
          await fs.dispose();
          await snap.dispose();
        }
      };
      for (let i = 0; i < 20; i += 4) await Promise.all([i, i + 1, i + 2, i + 3].map(one));
      assert.deepEqual(outcomes, { ok: 5, failed: 5, startFailed: 5, canceled: 5 });
      await assertNothingLeft(marker);
      assert.equal(
        (
          await exec('grep', ['-c', secret, '/proc/self/mountinfo']).catch(() => ({ stdout: '0' }))
        ).stdout.trim(),
        '0',
      );
    },
  );

  it('keeps the failing tail of a step that prints 10 MB', { timeout: 60_000 }, async () => {
    const fs = await overlayRootfs();
    const log = new StepLog();
    const w = log.writable();
    try {
      await assert.rejects(
        executor.run(
          {
            args: [
              'sh',
              '-c',
              // One pipe for both: across stdout and stderr the order of the last lines is not fixed.
              'exec 2>&1; yes "some progress line" | head -c 10000000; echo; echo "error: the real cause" >&2; exit 7',
            ],
          },
          runOptions(fs.mounts, capture(), { stdout: w, stderr: w }),
        ),
        (err: unknown) =>
          err instanceof ExecError && err.exitCode === 7 && err.lastLines.at(-1) === 'error: the real cause',
      );
      assert.ok(log.bytes >= 10_000_000);
      assert.deepEqual(log.lastLines(1), ['error: the real cause']);
      const text = log.text();
      assert.ok(text.length < 2.2 * 1024 * 1024, `kept ${text.length} chars`);
      assert.match(text, /\[… \d+ bytes clipped …\]/);
      assert.ok(text.endsWith('error: the real cause\n'));
      assert.ok(text.startsWith('some progress line\n'));
    } finally {
      await fs.dispose();
    }
  });
});
