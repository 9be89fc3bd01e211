import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { realBuildctlPath } from '../../test/fixtures/kilnd.js';
import { runBuildctl, runKilnctl } from '../testing/run-kilnctl.js';

// The CLI surface that needs no daemon: exit codes, usage errors and offline commands, side by
// side with the real buildctl when it is available.

const buildctl = realBuildctlPath();
const nowhere = 'unix:///nonexistent/kilnctl-test.sock';
const golden = (
  JSON.parse(readFileSync(new URL('../../../llb/testdata/golden.json', import.meta.url), 'utf8')) as {
    graphs: { name: string; definition: string }[];
  }
).graphs;

describe('kilnctl exit codes and usage errors', () => {
  it('exits 3 for an unknown command, 1 for an unknown flag, 0 for help and --version', async () => {
    const unknown = await runKilnctl(nowhere, ['nosuch']);
    assert.equal(unknown.code, 3);
    assert.equal(unknown.stderr, "No help topic for 'nosuch'\n");
    assert.equal((await runKilnctl(nowhere, ['debug', 'nosuch'])).code, 3);

    const badFlag = await runKilnctl(nowhere, ['du', '--nosuch']);
    assert.equal(badFlag.code, 1);
    assert.match(
      badFlag.stdout.toString(),
      /^Incorrect Usage: flag provided but not defined: -nosuch\n\nNAME:\n {3}kilnctl du - disk usage/,
    );
    assert.equal(badFlag.stderr, 'error: flag provided but not defined: -nosuch\n');

    const help = await runKilnctl(nowhere, ['--help']);
    assert.equal(help.code, 0);
    assert.match(
      help.stdout.toString(),
      /COMMANDS:\n {3}du +disk usage\n {3}prune +clean up build cache\n {3}build, b +build/,
    );
    const version = await runKilnctl(nowhere, ['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout.toString(), /^kilnctl kiln \d+\.\d+\.\d+/);
  });

  it('fails a call to an absent daemon with Unavailable and exit code 1', async () => {
    const run = await runKilnctl(nowhere, ['du']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: failed to call diskusage: Unavailable: /);
  });

  it('rejects build flags before contacting the daemon, with buildctl messages', async () => {
    const noFrontend = await runKilnctl(nowhere, [
      'build',
      '--output',
      'type=local,output=x',
      '--frontend',
      'dockerfile.v0',
    ]);
    assert.equal(noFrontend.code, 1);
    assert.equal(noFrontend.stderr, 'error: output=x not supported for --output, you meant dest=x?\n');
    const badOpt = await runKilnctl(nowhere, ['build', '--frontend', 'x', '--opt', 'novalue']);
    assert.equal(badOpt.stderr, 'error: invalid opt: invalid value novalue\n');
    const emptyStdin = await runKilnctl(nowhere, ['build']);
    assert.equal(emptyStdin.code, 1);
    assert.equal(emptyStdin.stderr, 'error: empty definition sent to build. Specify --frontend instead?\n');
    const badProgress = await runKilnctl(nowhere, ['build', '--frontend', 'x', '--progress', 'fancy']);
    assert.equal(badProgress.stderr, 'error: invalid progress mode fancy\n');
  });

  it(
    'matches buildctl exit codes for the same mistakes',
    { skip: buildctl ? false : 'no buildctl at /tmp/bk/buildctl (or $BUILDCTL)' },
    async () => {
      for (const args of [
        ['nosuch'],
        ['du', '--nosuch'],
        ['du'],
        ['debug', 'nosuch'],
        ['--version'],
        ['build', '--opt', 'x'],
      ]) {
        const ours = await runKilnctl(nowhere, args);
        const theirs = await runBuildctl(buildctl!, nowhere, args);
        assert.equal(ours.code, theirs.code, `exit code of ${args.join(' ')}`);
      }
    },
  );
});

describe('kilnctl debug dump-llb', () => {
  it('prints one JSON op per line that parses and names every op digest', async () => {
    const g = golden.find((x) => x.name === 'exec-mounts')!;
    const run = await runKilnctl(nowhere, ['debug', 'dump-llb'], {
      input: Buffer.from(g.definition, 'base64'),
    });
    assert.equal(run.code, 0, run.stderr);
    const ops = run.stdout
      .toString()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { Op: { Op: unknown }; Digest: string; OpMetadata: object });
    assert.ok(ops.length >= 3);
    assert.ok(ops.every((o) => /^sha256:[a-f0-9]{64}$/.test(o.Digest)));
    assert.equal(ops.at(-1)!.Op.Op, null, 'the terminal op has no op');
  });

  it(
    'is byte-identical to buildctl debug dump-llb (and --dot) for every golden definition',
    { skip: buildctl ? false : 'no buildctl at /tmp/bk/buildctl (or $BUILDCTL)' },
    async () => {
      for (const g of golden) {
        const input = Buffer.from(g.definition, 'base64');
        for (const extra of [[], ['--dot']]) {
          const ours = await runKilnctl(nowhere, ['debug', 'dump-llb', ...extra], { input });
          const theirs = await runBuildctl(buildctl!, nowhere, ['debug', 'dump-llb', ...extra], { input });
          assert.equal(theirs.code, 0, theirs.stderr);
          assert.equal(ours.stdout.toString(), theirs.stdout.toString(), `${g.name} ${extra.join(' ')}`);
        }
      }
    },
  );
});
