import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { image, marshal } from '../llb/index.js';
import {
  BuildFailedError,
  Client,
  ClientConnectError,
  ClientUsageError,
  DaemonError,
  type SolveStatus,
} from './index.js';
import { testDaemons } from './testing/daemon.js';
import { startEnvironment, type TestEnvironment } from './testing/environment.js';

const run = promisify(execFile);
const amd64 = { os: 'linux', architecture: 'amd64' };

describe('Client without a daemon', () => {
  it('refuses malformed addresses', () => {
    assert.throws(() => new Client({ address: 'http://x' }), ClientConnectError);
    assert.throws(
      () => new Client({ address: 'tcp://host' }),
      /expected unix:\/\/\/path or tcp:\/\/host:port/,
    );
  });

  it('reports an absent daemon as DaemonError kind unavailable, and wait() gives up at its timeout', async () => {
    const client = new Client({ address: 'unix:///nonexistent/kiln.sock' });
    try {
      await assert.rejects(client.info(), (err: unknown) => {
        assert.ok(err instanceof DaemonError);
        assert.equal(err.kind, 'unavailable');
        assert.equal(err.code, 'KILN_CLIENT_DAEMON');
        assert.match(err.message, /^failed to call info: Unavailable: /);
        return true;
      });
      const started = Date.now();
      await assert.rejects(client.wait({ timeoutMs: 300 }), DaemonError);
      assert.ok(Date.now() - started < 3000);
    } finally {
      client.close();
    }
  });

  it('rejects inconsistent build options before contacting the daemon', async () => {
    const client = new Client({ address: 'unix:///nonexistent/kiln.sock' });
    try {
      await assert.rejects(client.build({}), /please specify --frontend or pipe LLB definition/);
      await assert.rejects(
        client.build({ frontend: 'dockerfile.v0', definition: new Uint8Array([10, 0]) }),
        ClientUsageError,
      );
      await assert.rejects(
        client.build({ frontend: 'dockerfile.v0', outputs: [{ type: 'image', dest: '/tmp/x' }] }),
        /output \/tmp\/x is not supported by image exporter/,
      );
      await assert.rejects(
        client.build({ frontend: 'dockerfile.v0', locals: { context: '/nonexistent/dir' } }),
        /could not find \/nonexistent\/dir/,
      );
    } finally {
      client.close();
    }
  });
});

for (const { kind, skip } of testDaemons()) {
  describe(`Client against ${kind}`, { skip }, () => {
    let env: TestEnvironment;
    let client: Client;
    let dir: string;

    before(async () => {
      env = await startEnvironment(kind);
      client = new Client({ address: env.daemon.address });
      dir = await mkdtemp(join(tmpdir(), 'kiln-client-'));
    });
    after(async () => {
      client?.close();
      await env?.dispose();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('answers workers, info and du', async () => {
      const [worker] = await client.workers();
      assert.ok(worker && worker.platforms.some((p) => p.architecture === 'amd64'));
      assert.ok(worker.buildkitVersion.package.length > 0);
      assert.ok((await client.info()).buildkitVersion.package.length > 0);
      assert.ok(Array.isArray(await client.du()));
      await client.wait({ timeoutMs: 2000 });
    });

    it('builds LLB into a tar stream and exposes its progress as an async iterator', async () => {
      const def = marshal(image(env.busybox.ref).run({ shell: 'echo library > /lib.txt' }).root(), {
        platform: amd64,
      });
      const sink = new PassThrough();
      const chunks: Buffer[] = [];
      sink.on('data', (c: Buffer) => chunks.push(c));
      const build = client.build({ definition: def, noCache: true, outputs: [{ type: 'tar', dest: sink }] });
      const seen: SolveStatus[] = [];
      for await (const s of build.progress) seen.push(s);
      const result = await build;
      assert.match(result.ref, /^[a-z0-9]{25}$/);
      assert.equal(result.ref, build.ref);
      const vertexes = seen.flatMap((s) => s.vertexes);
      assert.ok(vertexes.some((v) => v.name.includes('echo library') && v.completed && !v.cached));
      const tarFile = join(dir, 'lib.tar');
      await writeFile(tarFile, Buffer.concat(chunks));
      const { stdout } = await run('tar', ['xOf', tarFile, 'lib.txt']);
      assert.equal(stdout, 'library\n');
    });

    it('builds a Dockerfile with locals and an inline secret into a directory', async () => {
      const ctx = await env.context('lib-ctx', {
        Dockerfile: `FROM ${env.busybox.ref}\nCOPY a.txt /a.txt\nRUN --mount=type=secret,id=s cat /run/secrets/s > /s.txt\n`,
        'a.txt': 'A',
      });
      const out = join(dir, 'out');
      const result = await client.build({
        frontend: 'dockerfile.v0',
        locals: { context: ctx, dockerfile: ctx },
        secrets: { s: { value: 'inline-secret' } },
        outputs: [{ type: 'local', dest: out }],
        auth: false,
      });
      assert.equal(await readFile(join(out, 'a.txt'), 'utf8'), 'A');
      assert.equal(await readFile(join(out, 's.txt'), 'utf8'), 'inline-secret');
      assert.equal(typeof result.response, 'object');
    });

    it('fails with BuildFailedError carrying the Dockerfile lines', async () => {
      const ctx = await env.context('lib-fail', { Dockerfile: `FROM ${env.busybox.ref}\nRUN exit 7\n` });
      await assert.rejects(
        client.build({ frontend: 'dockerfile.v0', locals: { context: ctx, dockerfile: ctx } }),
        (err: unknown) => {
          assert.ok(err instanceof BuildFailedError);
          assert.equal(err.code, 'KILN_CLIENT_BUILD_FAILED');
          assert.match(
            err.message,
            /^failed to solve: process "\/bin\/sh -c exit 7" did not complete successfully: exit code: 7$/,
          );
          assert.equal(err.sources[0]?.filename, 'Dockerfile');
          assert.deepEqual(err.sources[0]?.ranges, [{ start: 2, end: 2 }]);
          return true;
        },
      );
    });

    it('cancels the build on the daemon when the signal aborts', async () => {
      const marker = `kiln-cancel-${process.pid}`;
      const def = marshal(
        image(env.busybox.ref)
          .run({ shell: `echo started; sleep 120; echo ${marker}` })
          .root(),
        { platform: amd64 },
      );
      const abort = new AbortController();
      const build = client.build({ definition: def, noCache: true, signal: abort.signal });
      let sawStart = false;
      const started = Date.now();
      const watch = (async () => {
        for await (const s of build.progress) {
          if (!sawStart && s.logs.some((l) => Buffer.from(l.data).toString().includes('started'))) {
            sawStart = true;
            abort.abort();
          }
        }
      })();
      await assert.rejects(build, (err: unknown) => {
        assert.ok(err instanceof BuildFailedError);
        assert.equal(err.kind, 'canceled');
        return true;
      });
      await watch;
      assert.ok(sawStart);
      assert.ok(Date.now() - started < 60_000);
      // The step's process is gone from the machine: the daemon killed the container.
      const { stdout } = await run('ps', ['-eo', 'args']);
      assert.ok(!stdout.split('\n').some((l) => l.includes('sleep 120') && l.includes(marker)));
    });

    it('cancels a build whose signal aborts while it is still connecting', async () => {
      const marker = `kiln-early-cancel-${process.pid}`;
      const def = marshal(
        image(env.busybox.ref)
          .run({ shell: `sleep 120; echo ${marker}` })
          .root(),
        { platform: amd64 },
      );
      const abort = new AbortController();
      const started = Date.now();
      const build = client.build({ definition: def, noCache: true, signal: abort.signal });
      // The build is preparing and has yet to send Control.Solve: the calls it makes from now on
      // start with an aborted signal.
      abort.abort();
      await assert.rejects(build, (err: unknown) => {
        assert.ok(err instanceof BuildFailedError);
        assert.equal(err.kind, 'canceled');
        return true;
      });
      assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
      const { stdout } = await run('ps', ['-eo', 'args']);
      assert.ok(!stdout.split('\n').some((l) => l.includes('sleep 120') && l.includes(marker)));
    });

    it('prunes, yielding each removed record', async () => {
      const removed = [];
      for await (const r of client.prune({ all: true })) removed.push(r);
      assert.ok(removed.length > 0);
      assert.ok(removed.every((r) => typeof r.id === 'string' && r.size >= 0));
      assert.deepEqual(await client.du(), []);
    });
  });
}
