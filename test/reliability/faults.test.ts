import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { toBinary } from '@bufbuild/protobuf';
import { image, marshal, mkfile, type State } from '../../llb/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { buildctl, type BuildctlResult } from '../fixtures/buildctl.js';
import { pushBusyboxIndex, type PushedBusybox } from '../fixtures/busybox-image.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { startFaultProxy, type FaultProxy, type FaultRule } from './fault-proxy.js';
import { checkIntegrity } from './integrity.js';

const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';
const run = promisify(execFile);

/** One fault case: a schedule, and what kiln must do under it. */
interface FaultCase {
  readonly name: string;
  readonly rules: (blobs: Blobs) => FaultRule[];
  /** `ok`, or a pattern the failed build's error must match (it names the registry and the blob). */
  readonly expect: 'ok' | ((blobs: Blobs) => RegExp);
}

/** The digests the schedules aim at. */
interface Blobs {
  readonly layer: string;
  readonly manifest: string;
}

const def = (state: State): Uint8Array => toBinary(DefinitionSchema, marshal(state));
const blobGet = (digest: string): RegExp => new RegExp(`/blobs/${digest}$`);
const uploads = /\/blobs\/uploads\//;

/** Tallies for docs/reliability.md, printed as test diagnostics. */
const tally = { cases: 0, faults: 0, succeeded: 0, failedClearly: 0 };

describe('registry faults: pulls and pushes through a fault-injecting proxy', { skip }, () => {
  let registry: TestRegistry;
  let pushed: PushedBusybox;
  let proxy: FaultProxy;
  let daemon: KilndProcess;
  let work: string;
  let serial = 0;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    pushed = await pushBusyboxIndex(registry);
    proxy = await startFaultProxy(registry.host);
    work = await mkdtemp(join(tmpdir(), 'kiln-faults-'));
    // No background collection: the integrity scan must not race a collector deleting blobs.
    await writeFile(join(work, 'kilnd.toml'), '[worker.oci]\ngc = false\n');
    daemon = await startKilnd({ args: ['--config', join(work, 'kilnd.toml')] });
  });

  after(async () => {
    await daemon?.dispose();
    await proxy?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const build = (state: State, args: readonly string[] = []): Promise<BuildctlResult> =>
    buildctl(daemon.address, ['build', '--progress', 'plain', ...args], def(state));

  /** Forgets every cached result and blob, so the next build pulls again. */
  const forgetEverything = async (): Promise<void> => {
    const pruned = await buildctl(daemon.address, ['prune', '--all']);
    assert.equal(pruned.code, 0, pruned.stderr);
  };

  /** After any case: nothing corrupt is stored, and a clean build through the proxy succeeds. */
  const afterCase = async (): Promise<void> => {
    const report = await checkIntegrity(daemon.root);
    assert.deepEqual(report.problems, []);
    proxy.schedule([]);
    const clean = await build(
      image(`${proxy.host}/library/busybox:latest`)
        .run({ shell: `echo clean ${serial++} > /clean` })
        .root(),
    );
    assert.equal(clean.code, 0, `the clean build after the case failed:\n${clean.stderr}`);
  };

  /** Checks the outcome and returns the error line of a failed build (for the test's diagnostics). */
  const record = (c: FaultCase, blobs: Blobs, result: BuildctlResult): string => {
    tally.cases++;
    tally.faults += proxy.injected().length;
    assert.ok(
      proxy.injected().length > 0,
      `case "${c.name}" injected no fault: ${proxy.requests().join(', ')}`,
    );
    if (c.expect === 'ok') {
      assert.equal(result.code, 0, `expected success despite the faults:\n${result.stderr}`);
      tally.succeeded++;
      return '';
    } else {
      assert.notEqual(result.code, 0, 'expected the build to fail');
      assert.match(result.stderr, c.expect(blobs));
      tally.failedClearly++;
      return result.stderr.trim().split('\n').at(-1) ?? '';
    }
  };

  describe('pull (a build FROM an image behind the proxy)', () => {
    const named = (detail: string): RegExp =>
      new RegExp(`pull 127\\.0\\.0\\.1:\\d+/library/busybox.*${detail}`);
    const cases: FaultCase[] = [
      {
        name: '500 twice on the layer',
        rules: ({ layer: l }) => [
          { method: 'GET', path: blobGet(l), fault: { kind: 'status', status: 500 }, times: 2 },
        ],
        expect: 'ok',
      },
      {
        name: '429 with Retry-After on the manifest and the layer',
        rules: ({ layer: l }) => [
          {
            method: 'GET',
            path: /\/manifests\//,
            fault: { kind: 'status', status: 429, retryAfterSeconds: 1 },
            times: 1,
          },
          {
            method: 'GET',
            path: blobGet(l),
            fault: { kind: 'status', status: 429, retryAfterSeconds: 1 },
            times: 1,
          },
        ],
        expect: 'ok',
      },
      {
        name: 'slow answers: manifest after 1 s, layer at 1 MiB/s',
        rules: ({ layer: l }) => [
          { method: 'GET', path: /\/manifests\//, fault: { kind: 'slow', delayMs: 1000 } },
          {
            method: 'GET',
            path: blobGet(l),
            fault: { kind: 'slow', delayMs: 0, bytesPerSecond: 1024 * 1024 },
          },
        ],
        expect: 'ok',
      },
      {
        name: 'layer body truncated once (clean short answer)',
        rules: ({ layer: l }) => [
          { method: 'GET', path: blobGet(l), fault: { kind: 'truncate', bytes: 300_000 }, times: 1 },
        ],
        expect: 'ok',
      },
      {
        name: 'connection dropped mid-layer twice',
        rules: ({ layer: l }) => [
          { method: 'GET', path: blobGet(l), fault: { kind: 'drop', bytes: 200_000 }, times: 2 },
        ],
        expect: 'ok',
      },
      {
        name: 'layer served with wrong bytes every time',
        rules: ({ layer: l }) => [{ method: 'GET', path: blobGet(l), fault: { kind: 'corrupt' } }],
        expect: ({ layer }) => named(`blob ${layer}`),
      },
      {
        name: 'manifest served with wrong bytes every time',
        rules: (blobs) => [
          { method: 'GET', path: new RegExp(`/manifests/${blobs.manifest}$`), fault: { kind: 'corrupt' } },
        ],
        expect: ({ manifest }) => named(manifest),
      },
      {
        name: '500 on every layer request',
        rules: ({ layer: l }) => [
          { method: 'GET', path: blobGet(l), fault: { kind: 'status', status: 500 } },
        ],
        expect: ({ layer }) => named(`500 Internal Server Error.*${layer}`),
      },
      {
        name: 'connection dropped on every layer request',
        rules: ({ layer: l }) => [
          { method: 'GET', path: blobGet(l), fault: { kind: 'drop', bytes: 100_000 } },
        ],
        expect: ({ layer }) => named(layer),
      },
    ];
    for (const c of cases) {
      it(c.name, async (t) => {
        await forgetEverything();
        const { layer, manifest } = pushed.layout.images.amd64;
        const blobs = { layer: layer.digest, manifest: manifest.digest };
        proxy.schedule(c.rules(blobs));
        const result = await build(
          image(`${proxy.host}/library/busybox:latest`)
            .run({ shell: `echo pulled ${serial++} > /pulled` })
            .root(),
        );
        const error = record(c, blobs, result);
        t.diagnostic(`${proxy.injected().length} faults injected`);
        if (error) t.diagnostic(error);
        await afterCase();
      });
    }
  });

  describe('push (an image export with push=true to the proxy)', () => {
    const named = (detail: string): RegExp =>
      new RegExp(`push 127\\.0\\.0\\.1:\\d+/faults/push-\\d+.*${detail}`);
    const cases: FaultCase[] = [
      {
        name: '500 twice on starting an upload',
        rules: () => [{ method: 'POST', path: uploads, fault: { kind: 'status', status: 500 }, times: 2 }],
        expect: 'ok',
      },
      {
        name: '429 with Retry-After on a blob check and on the manifest',
        rules: () => [
          {
            method: 'HEAD',
            path: /\/blobs\/sha256:/,
            fault: { kind: 'status', status: 429, retryAfterSeconds: 1 },
            times: 1,
          },
          {
            method: 'PUT',
            path: /\/manifests\//,
            fault: { kind: 'status', status: 429, retryAfterSeconds: 1 },
            times: 1,
          },
        ],
        expect: 'ok',
      },
      {
        name: 'connection cut mid-upload once',
        rules: () => [
          { method: 'PATCH', path: uploads, fault: { kind: 'drop-upload', bytes: 500_000 }, times: 1 },
        ],
        expect: 'ok',
      },
      {
        name: 'uploads answered after 1 s',
        rules: () => [{ path: uploads, fault: { kind: 'slow', delayMs: 1000 } }],
        expect: 'ok',
      },
      {
        name: '500 once on the PUT that completes an upload',
        rules: () => [{ method: 'PUT', path: uploads, fault: { kind: 'status', status: 500 }, times: 1 }],
        expect: 'ok',
      },
      {
        name: '500 on every manifest PUT',
        rules: () => [{ method: 'PUT', path: /\/manifests\//, fault: { kind: 'status', status: 500 } }],
        expect: () => named('500 Internal Server Error.*manifest'),
      },
    ];
    for (const c of cases) {
      it(c.name, async (t) => {
        const n = serial++;
        const repo = `faults/push-${n}`;
        proxy.schedule(c.rules({ layer: '', manifest: '' }));
        // 1.5 MB of random bytes: a layer above the single-PUT limit, so it goes up in PATCHes.
        const state = image(`${proxy.host}/library/busybox:latest`)
          .run({ shell: `head -c 1500000 /dev/urandom > /random-${n}` })
          .root()
          .file(mkfile(`/small-${n}`, 0o644, `small ${n}\n`));
        const result = await build(state, [
          '--output',
          `type=image,name=${proxy.host}/${repo}:latest,push=true`,
        ]);
        const error = record(c, { layer: '', manifest: '' }, result);
        t.diagnostic(`${proxy.injected().length} faults injected`);
        if (error) t.diagnostic(error);
        else await verifyPushed(registry, repo);
        await afterCase();
      });
    }
  });

  it('reports its figures', (t) => {
    t.diagnostic(
      `fault cases ${tally.cases}, faults injected ${tally.faults}, builds that succeeded through ` +
        `their faults ${tally.succeeded}, failed with a clear error ${tally.failedClearly}`,
    );
  });
});

/** Every blob the pushed manifest names is in the registry with the bytes its digest promises. */
async function verifyPushed(registry: TestRegistry, repo: string): Promise<void> {
  const base = `http://${registry.host}/v2/${repo}`;
  const res = await fetch(`${base}/manifests/latest`, {
    headers: {
      Accept:
        'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  assert.equal(res.status, 200, `manifest of ${repo}`);
  const manifest = (await res.json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
  for (const { digest } of [manifest.config, ...manifest.layers]) {
    const blob = Buffer.from(await (await fetch(`${base}/blobs/${digest}`)).arrayBuffer());
    assert.equal(
      `sha256:${createHash('sha256').update(blob).digest('hex')}`,
      digest,
      `blob ${digest} of ${repo}`,
    );
  }
}

describe('runc failing to start', { skip }, () => {
  let registry: TestRegistry;
  let work: string;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    await pushBusyboxIndex(registry);
    work = await mkdtemp(join(tmpdir(), 'kiln-runtime-faults-'));
  });

  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Starts kilnd with `[worker.oci] binary = runtime` and checks builds against it. */
  async function withRuntime(runtime: string, expected: RegExp): Promise<void> {
    const config = join(work, `kilnd-${Date.now()}.toml`);
    await writeFile(config, `[worker.oci]\nbinary = ${JSON.stringify(runtime)}\ngc = false\n`);
    const daemon = await startKilnd({ args: ['--config', config] });
    try {
      const base = image(`${registry.host}/library/busybox:latest`);
      const step = (n: number): State => base.run({ shell: `echo step ${n} > /ran` }).root();
      for (const n of [1, 2]) {
        const failed = await buildctl(daemon.address, ['build', '--progress', 'plain'], def(step(n)));
        assert.notEqual(failed.code, 0, 'a RUN step cannot succeed without a runtime');
        assert.match(failed.stderr, expected);
        assert.match(failed.stderr, new RegExp(`/bin/sh -c echo step ${n} > /ran\\n#\\d+ ERROR`));
      }
      // Still serving: a build with no container, and disk usage, both answer.
      const out = join(work, `out-${Date.now()}`);
      const noRun = await buildctl(
        daemon.address,
        ['build', '--output', `type=local,dest=${out}`],
        def(base.file(mkfile('/note', 0o644, 'no container needed\n'))),
      );
      assert.equal(noRun.code, 0, noRun.stderr);
      const du = await buildctl(daemon.address, ['du']);
      assert.equal(du.code, 0, du.stderr);
      assert.equal(daemon.child.exitCode, null, 'kilnd is still running');
      assert.deepEqual((await checkIntegrity(daemon.root)).problems, []);
    } finally {
      await daemon.dispose();
    }
  }

  it('a runtime path that does not exist fails the step with the path, and the daemon keeps serving', async () => {
    await withRuntime('/nonexistent/kiln-runc', /OCI runtime "\/nonexistent\/kiln-runc" cannot be executed/);
  });

  it("a runtime that refuses to start containers fails the step with the runtime's own error", async () => {
    // A runc that reports a start failure the way runc does (a JSON line in --log, exit 1), and
    // passes everything else (list, kill, delete) to the real runc.
    const fake = join(work, 'refusing-runc');
    await writeFile(
      fake,
      `#!/bin/sh
log=""
prev=""
for arg in "$@"; do
  [ "$prev" = "--log" ] && log="$arg"
  if [ "$arg" = "run" ]; then
    echo '{"level":"error","msg":"runc run failed: injected: unable to start container process","time":"2026-01-01T00:00:00Z"}' >> "$log"
    exit 1
  fi
  prev="$arg"
done
exec runc "$@"
`,
      { mode: 0o755 },
    );
    await withRuntime(fake, /failed to start: runc run failed: injected: unable to start container process/);
  });
});

describe(
  'disk full (kilnd root on a 64 MiB tmpfs)',
  { skip: skip || (process.getuid?.() !== 0 && 'mounting a tmpfs needs root') },
  () => {
    let registry: TestRegistry;
    let work: string;
    let mountPoint: string;
    let daemon: KilndProcess;
    let base: State;

    before(async () => {
      registry = await startRegistry({ auth: 'none' });
      await pushBusyboxIndex(registry);
      base = image(`${registry.host}/library/busybox:latest`);
      work = await mkdtemp(join(tmpdir(), 'kiln-disk-full-'));
      mountPoint = join(work, 'small');
      await mkdir(mountPoint);
      await run('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'kiln-disk-full', mountPoint]);
      await writeFile(join(work, 'kilnd.toml'), '[worker.oci]\ngc = false\n');
      daemon = await startKilnd({
        root: join(mountPoint, 'root'),
        args: ['--config', join(work, 'kilnd.toml')],
      });
    });

    after(async () => {
      await daemon?.dispose();
      await registry?.stop();
      if (mountPoint) await run('umount', [mountPoint]).catch(() => run('umount', ['-l', mountPoint]));
      if (work) await rm(work, { recursive: true, force: true });
    });

    const build = (state: State, args: readonly string[] = []): Promise<BuildctlResult> =>
      buildctl(daemon.address, ['build', '--progress', 'plain', ...args], def(state));

    /** The daemon answers, and what it stored is sound. */
    const stillServing = async (): Promise<void> => {
      assert.equal(daemon.child.exitCode, null, `kilnd exited:\n${daemon.logs().slice(-2000)}`);
      const du = await buildctl(daemon.address, ['du']);
      assert.equal(du.code, 0, du.stderr);
      assert.deepEqual((await checkIntegrity(daemon.root)).problems, []);
    };

    it('a RUN step that fills the disk fails with "no space left" and its command; space returns with it', async (t) => {
      const filler = 'dd if=/dev/zero of=/fill bs=1M count=100';
      const result = await build(base.run({ shell: filler }).root());
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /No space left on device/);
      assert.match(result.stderr, new RegExp(`process "/bin/sh -c ${filler}" did not complete successfully`));
      t.diagnostic(result.stderr.trim().split('\n').at(-1) ?? '');
      await stillServing();
      const next = await build(base.run({ shell: 'echo fits > /small' }).root());
      assert.equal(next.code, 0, next.stderr);
    });

    it('an export that does not fit fails with "no space left"; after prune the next build succeeds', async (t) => {
      // 36 MB of random bytes fit as a snapshot, but not again as a compressed layer beside it.
      const big = base.run({ shell: 'head -c 36000000 /dev/urandom > /big' }).root();
      const name = `${registry.host}/disk-full/big:latest`;
      const result = await build(big, ['--output', `type=image,name=${name},push=true`]);
      assert.notEqual(result.code, 0, 'the export cannot fit');
      assert.match(
        result.stderr,
        /ResourceExhausted: .*write "layer-[^"]+" into the content store \S+ failed after [\d,]+ bytes: no space left on device/,
      );
      // The progress line of the step that ran out of space says so too.
      assert.match(
        result.stderr,
        /#(\d+) exporting to image\n(#\d+ .*\n)*#\1 ERROR: .*no space left on device/,
      );
      t.diagnostic(result.stderr.trim().split('\n').at(-1) ?? '');
      await stillServing();
      const pruned = await buildctl(daemon.address, ['prune', '--all']);
      assert.equal(pruned.code, 0, pruned.stderr);
      const small = base.run({ shell: 'echo after prune > /small' }).root();
      const next = await build(small, [
        '--output',
        `type=image,name=${registry.host}/disk-full/small:latest,push=true`,
      ]);
      assert.equal(next.code, 0, next.stderr);
      await stillServing();
    });
  },
);
