import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { realBuildctlPath } from '../../test/fixtures/kilnd.js';
import { testDaemons } from '../testing/daemon.js';
import { startEnvironment, type TestEnvironment } from '../testing/environment.js';
import { runBuildctl, runKilnctl, type CliRun } from '../testing/run-kilnctl.js';

// `kilnctl build` end to end against kilnd and a real buildkitd v0.11.6 (when one is on the
// machine), side by side with the real buildctl where one is available.

const run = promisify(execFile);
const buildctl = realBuildctlPath();
const noBuildctl = buildctl ? false : 'no buildctl at /tmp/bk/buildctl (or $BUILDCTL)';

/** Per step name: the kinds of lines printed for it (times, numbers and transient statuses dropped). */
function plainStructure(stderr: string): Map<string, string[]> {
  const blocks = new Map<string, Set<string>>();
  const names = new Map<string, string>();
  let current: Set<string> | undefined;
  let previous = '';
  for (const line of stderr.split('\n')) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) {
      previous = line;
      if (line === '------') break;
      continue;
    }
    const [, n, rest] = m as unknown as [string, string, string];
    if (n !== '0' && (previous === '' || !names.has(n)) && (!names.has(n) || names.get(n) === rest)) {
      names.set(n, rest);
      current = blocks.get(rest) ?? new Set();
      blocks.set(rest, current);
    } else if (rest === '...') {
      // a switch marker
    } else if (/^DONE \d+\.\ds$/.test(rest)) current?.add('DONE');
    else if (/^\d+\.\d+ /.test(rest)) current?.add('log ' + rest.replace(/^\S+ /, ''));
    else if (rest.endsWith(' done')) current?.add('status ' + rest.replace(/ \d+\.\ds done$/, ' done'));
    else if (rest === 'CACHED' || rest.startsWith('ERROR: ') || rest.startsWith('WARN: ')) current?.add(rest);
    previous = line;
  }
  return new Map([...blocks].map(([k, v]) => [k, [...v].sort()]));
}

async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

for (const { kind, skip } of testDaemons()) {
  describe(`kilnctl build against ${kind}`, { skip }, () => {
    let env: TestEnvironment;
    let context: string;
    let failing: string;
    let secretFile: string;
    const k = (args: string[], opts: Parameters<typeof runKilnctl>[2] = {}): Promise<CliRun> =>
      runKilnctl(env.daemon.address, args, { cwd: context, ...opts });
    const b = (args: string[], opts: Parameters<typeof runKilnctl>[2] = {}): Promise<CliRun> =>
      runBuildctl(buildctl!, env.daemon.address, args, { cwd: context, ...opts });
    const dockerfile = ['--frontend', 'dockerfile.v0', '--local', 'context=.', '--local', 'dockerfile=.'];

    before(async () => {
      env = await startEnvironment(kind);
      context = await env.context('ctx', {
        Dockerfile: [
          `FROM ${env.busybox.ref}`,
          'COPY hello.txt /hello.txt',
          'RUN echo building; cat /hello.txt; echo err >&2',
          'RUN --mount=type=secret,id=mysecret wc -c < /run/secrets/mysecret > /secret-size',
          '',
        ].join('\n'),
        'hello.txt': 'hi\n',
      });
      failing = await env.context('failing', {
        Dockerfile: `FROM ${env.busybox.ref}\nRUN for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line $i; done; exit 3\n`,
      });
      secretFile = (await env.context('secret', { 'secret.txt': 'supersecret' })) + '/secret.txt';
      const warm = await k([
        'build',
        ...dockerfile,
        '--secret',
        `id=mysecret,src=${secretFile}`,
        '--progress',
        'plain',
      ]);
      assert.equal(warm.code, 0, warm.stderr);
    });
    after(async () => env?.dispose());

    it('exports to a local directory, serving --local and --secret, with plain progress', async () => {
      const out = join(env.dir, 'out-local');
      const r = await k([
        'build',
        ...dockerfile,
        '--secret',
        `id=mysecret,src=${secretFile}`,
        '--progress',
        'plain',
        '--output',
        `type=local,dest=${out}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await readFile(join(out, 'hello.txt'), 'utf8'), 'hi\n');
      assert.equal((await readFile(join(out, 'secret-size'), 'utf8')).trim(), '11');
      assert.match(r.stderr, /^#\d+ exporting to client directory$/m);
      assert.match(r.stderr, /^#\d+ \[stage-0 2\/4\] COPY hello.txt \/hello.txt$/m);
    });

    it(
      'prints the same plain progress structure and metadata file as buildctl',
      { skip: noBuildctl },
      async () => {
        const common = [
          'build',
          ...dockerfile,
          '--secret',
          `id=mysecret,src=${secretFile}`,
          '--no-cache',
          '--progress',
          'plain',
        ];
        const ours = await k([
          ...common,
          '--output',
          `type=local,dest=${join(env.dir, 'o1')}`,
          '--metadata-file',
          join(env.dir, 'md-k.json'),
        ]);
        const theirs = await b([
          ...common,
          '--output',
          `type=local,dest=${join(env.dir, 'o2')}`,
          '--metadata-file',
          join(env.dir, 'md-b.json'),
        ]);
        assert.equal(ours.code, 0, ours.stderr);
        assert.equal(theirs.code, 0, theirs.stderr);
        const structure = plainStructure(ours.stderr);
        const shown = `kilnctl:\n${ours.stderr}\nbuildctl:\n${theirs.stderr}`;
        assert.deepEqual(structure, plainStructure(theirs.stderr), shown);
        assert.ok(structure.size >= 8, shown);
        const runStep = structure.get('[stage-0 3/4] RUN echo building; cat /hello.txt; echo err >&2') ?? [];
        for (const kind of ['log building', 'log err', 'log hi']) assert.ok(runStep.includes(kind), shown);
        assert.ok(runStep.includes('DONE') || runStep.includes('CACHED'), shown);
        assert.equal(
          await readFile(join(env.dir, 'md-k.json'), 'utf8'),
          await readFile(join(env.dir, 'md-b.json'), 'utf8'),
        );
        assert.deepEqual(await tree(join(env.dir, 'o1')), await tree(join(env.dir, 'o2')));
      },
    );

    it('writes tar output to a file and to stdout', async () => {
      const file = join(env.dir, 'out.tar');
      const toFile = await k([
        'build',
        ...dockerfile,
        '--secret',
        `id=mysecret,src=${secretFile}`,
        '--progress',
        'quiet',
        '--output',
        `type=tar,dest=${file}`,
      ]);
      assert.equal(toFile.code, 0, toFile.stderr);
      const listing = (await run('tar', ['tf', file])).stdout.split('\n');
      assert.ok(
        listing.includes('hello.txt') && listing.includes('bin/busybox'),
        listing.slice(0, 5).join(','),
      );
      const toStdout = await k([
        'build',
        ...dockerfile,
        '--secret',
        `id=mysecret,src=${secretFile}`,
        '--progress',
        'quiet',
        '--output',
        'type=tar',
      ]);
      assert.equal(toStdout.code, 0, toStdout.stderr);
      const streamed = join(env.dir, 'streamed.tar');
      await writeFile(streamed, toStdout.stdout);
      assert.deepEqual((await run('tar', ['tf', streamed])).stdout.split('\n'), listing);
    });

    it('pushes an image to a registry and reports it in --metadata-file', async () => {
      const name = `${env.registry.host}/test/kilnctl:1`;
      const md = join(env.dir, 'push.json');
      const r = await k([
        'build',
        ...dockerfile,
        '--secret',
        `id=mysecret,src=${secretFile}`,
        '--progress',
        'plain',
        '--output',
        `type=image,name=${name},push=true,registry.insecure=true`,
        '--metadata-file',
        md,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const metadata = JSON.parse(await readFile(md, 'utf8')) as Record<string, unknown>;
      assert.equal(metadata['image.name'], name);
      assert.equal(
        (metadata['containerimage.descriptor'] as { digest: string }).digest,
        metadata['containerimage.digest'],
      );
      const inspect = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`]);
      const { createHash } = await import('node:crypto');
      assert.equal(
        `sha256:${createHash('sha256').update(inspect.stdout).digest('hex')}`,
        metadata['containerimage.digest'],
      );
    });

    it('fails like buildctl: exit 1, ERROR line, last ten log lines, Dockerfile excerpt', async () => {
      const ours = await k(['build', ...dockerfile, '--progress', 'plain'], { cwd: failing });
      assert.equal(ours.code, 1);
      assert.match(
        ours.stderr,
        /^#\d+ ERROR: process ".*exit 3" did not complete successfully: exit code: 3$/m,
      );
      assert.match(
        ours.stderr,
        /------\n > \[2\/2\] RUN .*:\n(#\d+ \d+\.\d+ line (3|4|5|6|7|8|9|10|11|12)\n){10}------\n/,
      );
      assert.match(ours.stderr, /Dockerfile:2\n-{20}\n {3}1 \| {5}FROM .*\n {3}2 \| >>> RUN for i/);
      assert.match(
        ours.stderr,
        /\nerror: failed to solve: process ".*" did not complete successfully: exit code: 3\n$/,
      );
      if (buildctl) {
        const theirs = await b(['build', ...dockerfile, '--progress', 'plain'], { cwd: failing });
        assert.equal(ours.code, theirs.code);
        assert.equal(
          ours.stderr.slice(ours.stderr.indexOf('Dockerfile:2')),
          theirs.stderr.slice(theirs.stderr.indexOf('Dockerfile:2')),
        );
        assert.deepEqual(plainStructure(ours.stderr), plainStructure(theirs.stderr));
      }
    });

    it('exports a local cache (index.json written client-side) and imports it after a prune', async () => {
      const cache = join(env.dir, 'cache');
      const args = [
        'build',
        ...dockerfile,
        '--secret',
        `id=mysecret,src=${secretFile}`,
        '--progress',
        'plain',
      ];
      const exported = await k([...args, '--export-cache', `type=local,dest=${cache},mode=max`]);
      assert.equal(exported.code, 0, exported.stderr);
      const index = JSON.parse(await readFile(join(cache, 'index.json'), 'utf8')) as {
        manifests: Array<{ digest: string; annotations: Record<string, string> }>;
      };
      assert.equal(index.manifests[0]!.annotations['org.opencontainers.image.ref.name'], 'latest');
      assert.ok(
        (await readdir(join(cache, 'blobs', 'sha256'))).includes(index.manifests[0]!.digest.slice(7)),
      );
      assert.equal((await k(['prune', '--all'])).code, 0);
      const imported = await k([...args, '--import-cache', `type=local,src=${cache}`]);
      assert.equal(imported.code, 0, imported.stderr);
      assert.match(imported.stderr, /importing cache manifest from local:/);
      assert.match(imported.stderr, /\[stage-0 3\/4\] RUN echo building.*\n#\d+ CACHED/);
    });

    it('writes an OCI layout directory with an index.json tag (tar=false)', async () => {
      const dir = join(env.dir, 'oci');
      const r = await k([
        'build',
        ...dockerfile,
        '--secret',
        `id=mysecret,src=${secretFile}`,
        '--progress',
        'quiet',
        '--output',
        `type=oci,tar=false,dest=${dir},name=example`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
        manifests: Array<{ digest: string; annotations: Record<string, string> }>;
      };
      assert.match(index.manifests[0]!.annotations['org.opencontainers.image.ref.name']!, /example/);
      assert.ok((await readdir(join(dir, 'blobs', 'sha256'))).includes(index.manifests[0]!.digest.slice(7)));
    });

    it('builds LLB from stdin (kiln/llb builder) like buildctl, and --ref-file feeds history', async () => {
      const { image, marshal } = await import('../../llb/index.js');
      const { toBinary } = await import('@bufbuild/protobuf');
      const { DefinitionSchema } = await import('../../proto/gen/pb/ops_pb.js');
      const def = marshal(image(env.busybox.ref).run({ shell: 'echo from-llb > /llb.txt' }).root(), {
        platform: { os: 'linux', architecture: 'amd64' },
      });
      const input = toBinary(DefinitionSchema, def);
      const out = join(env.dir, 'llb-out');
      const refFile = join(env.dir, 'ref.txt');
      const r = await k(
        [
          'build',
          '--no-cache',
          '--progress',
          'plain',
          '--output',
          `type=local,dest=${out}`,
          '--ref-file',
          refFile,
        ],
        { input },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await readFile(join(out, 'llb.txt'), 'utf8'), 'from-llb\n');
      const ref = await readFile(refFile, 'utf8');
      assert.match(ref, /^[a-z0-9]{25}$/);
      if (buildctl) {
        const theirs = await b(
          ['build', '--no-cache', '--progress', 'plain', '--output', `type=local,dest=${out}-b`],
          { input },
        );
        assert.equal(theirs.code, 0, theirs.stderr);
        assert.deepEqual(plainStructure(r.stderr), plainStructure(theirs.stderr));
      }
      const ls = await k(['history', 'ls']);
      assert.equal(ls.code, 0, ls.stderr);
      assert.match(ls.stdout.toString(), new RegExp(`^${ref}\\s+-\\s+completed`, 'm'));
      const inspect = await k(['history', 'inspect', ref]);
      assert.match(inspect.stdout.toString(), /^Status: +completed$/m);
      const logs = await k(['history', 'logs', '--progress', 'plain', ref]);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout.toString(), /\/bin\/sh -c echo from-llb > \/llb.txt/);
      const missing = await k(['history', 'inspect', 'nosuchref']);
      assert.equal(missing.code, 1);
    });
  });
}
