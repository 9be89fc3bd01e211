import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { realBuildctlPath } from '../../test/fixtures/kilnd.js';
import { testDaemons } from '../testing/daemon.js';
import { startEnvironment, type TestEnvironment } from '../testing/environment.js';
import { runBuildctl, runKilnctl } from '../testing/run-kilnctl.js';

// du, prune, debug workers and debug info against a real daemon, byte-for-byte with buildctl
// (records come back in no fixed order, so tables are compared line by line, sorted).

const buildctl = realBuildctlPath();

const sortedLines = (b: Buffer): string[] => b.toString().split('\n').sort();
const sortedBlocks = (b: Buffer): string[] => b.toString().split('\n\n').sort();

for (const { kind, skip } of testDaemons()) {
  describe(`kilnctl inspection commands against ${kind}`, { skip }, () => {
    let env: TestEnvironment;
    const k = (args: string[]) => runKilnctl(env.daemon.address, args);
    const b = (args: string[]) => runBuildctl(buildctl!, env.daemon.address, args);

    before(async () => {
      env = await startEnvironment(kind);
      const ctx = await env.context('ctx', { Dockerfile: `FROM ${env.busybox.ref}\nRUN echo x > /x\n` });
      const r = await runKilnctl(
        env.daemon.address,
        [
          'build',
          '--frontend',
          'dockerfile.v0',
          '--local',
          'context=.',
          '--local',
          'dockerfile=.',
          '--progress',
          'quiet',
        ],
        { cwd: ctx },
      );
      assert.equal(r.code, 0, r.stderr);
    });
    after(async () => env?.dispose());

    it('--wait polls until the daemon answers, then runs the command', async () => {
      const r = await k(['--wait', '--timeout', '3', 'debug', 'info']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.toString(), /^BuildKit: /);
    });

    it('debug workers lists the worker and its platforms', async () => {
      const r = await k(['debug', 'workers']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.toString(), /^ID\t+PLATFORMS\n\S+\t+linux\/amd64/);
      const v = await k(['debug', 'workers', '-v']);
      assert.match(
        v.stdout.toString(),
        /^ID:\t\t\S+\nPlatforms:\tlinux\/amd64.*\nBuildKit:\t.*\nLabels:\n\t/,
      );
    });

    it('du shows records, a summary, and --format json parses', async () => {
      const r = await k(['du']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.toString(), /^ID\t+RECLAIMABLE\t+SIZE\t+LAST ACCESSED\n/);
      assert.match(r.stdout.toString(), /\nReclaimable:\t\S+\nTotal:\t\t\S+\n$/);
      const json = JSON.parse((await k(['du', '--format', 'json'])).stdout.toString()) as Array<{
        id: string;
        size: number;
      }>;
      assert.ok(json.length > 0 && json.every((u) => typeof u.id === 'string' && typeof u.size === 'number'));
    });

    it(
      'prints exactly what buildctl prints for workers, info, du',
      { skip: buildctl ? false : 'no buildctl' },
      async () => {
        for (const args of [
          ['debug', 'workers'],
          ['debug', 'workers', '-v'],
          ['debug', 'workers', '--format', 'json'],
          ['debug', 'info'],
          ['debug', 'info', '--format', '{{.BuildkitVersion.Package}}'],
        ]) {
          const [ours, theirs] = [await k(args), await b(args)];
          assert.equal(ours.code, theirs.code);
          assert.equal(ours.stdout.toString(), theirs.stdout.toString(), args.join(' '));
        }
        for (const args of [
          ['du'],
          ['du', '--filter', 'type==regular'],
          ['du', '--format', '{{range .}}{{.ID}} {{.Size}} {{.CreatedAt}} {{.Parents}}{{"\\n"}}{{end}}'],
        ]) {
          assert.deepEqual(
            sortedLines((await k(args)).stdout),
            sortedLines((await b(args)).stdout),
            args.join(' '),
          );
        }
        assert.deepEqual(
          sortedBlocks((await k(['du', '-v'])).stdout),
          sortedBlocks((await b(['du', '-v'])).stdout),
        );
      },
    );

    it('prune --keep-duration keeps recent records; prune --all empties the cache', async () => {
      const kept = await k(['prune', '--keep-duration', '1000h']);
      assert.equal(kept.code, 0, kept.stderr);
      assert.equal(kept.stdout.toString(), 'Total:\t0B\n');
      const all = await k(['prune', '--all', '--verbose']);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout.toString(), /^ID:\t+\S+\n/);
      assert.match(all.stdout.toString(), /Total:\t\S+\n$/);
      const du = await k(['du', '--format', 'json']);
      assert.deepEqual(JSON.parse(du.stdout.toString()), []);
      const empty = await k(['prune']);
      assert.equal(empty.stdout.toString(), 'Total:\t0B\n');
      if (buildctl) assert.equal(empty.stdout.toString(), (await b(['prune'])).stdout.toString());
    });
  });
}
