import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { toBinary } from '@bufbuild/protobuf';
import { image, marshal, mkfile, type State } from '../../llb/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { buildctl, type BuildctlResult } from '../fixtures/buildctl.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { checkIntegrity, inventory, lost } from './integrity.js';

const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';
const full = process.env.KILN_RELIABILITY_FULL === '1';
const kills = full ? 50 : 8;
/** Change it (KILN_RELIABILITY_SEED) to land the kills elsewhere; a failure prints the one it used. */
const seed = Number(process.env.KILN_RELIABILITY_SEED ?? 1427);

/** mulberry32: a small seeded generator, so a failing sequence of kills can be replayed. */
function random(seedValue: number): () => number {
  let a = seedValue >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A kind of build to kill, and the window (ms, after the first 150) the kill lands in: about its length. */
interface Victim {
  readonly name: string;
  readonly windowMs: number;
  /** Forget everything first, so the build pulls and unpacks its base again. */
  readonly fresh?: boolean;
  readonly state: (n: number) => State;
  readonly args: (n: number) => string[];
}

const def = (state: State): Uint8Array => toBinary(DefinitionSchema, marshal(state));

describe('crash consistency: SIGKILL of kilnd at random points during builds', { skip }, () => {
  let registry: TestRegistry;
  let work: string;
  let config: string;
  let base: State;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    await pushBusyboxIndex(registry);
    base = image(`${registry.host}/library/busybox:latest`);
    work = await mkdtemp(join(tmpdir(), 'kiln-crash-'));
    config = join(work, 'kilnd.toml');
    // No background collection: whatever a build left committed must still be there after a crash.
    await writeFile(config, '[worker.oci]\ngc = false\n');
  });

  after(async () => {
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const victims: Victim[] = [
    {
      name: 'RUN steps writing files',
      windowMs: 750,
      state: (n) =>
        base
          .run({ shell: `head -c 6000000 /dev/urandom > /a-${n}; sleep 0.5` })
          .root()
          .run({ shell: `cp /a-${n} /b-${n}; echo ${n} > /c` })
          .root(),
      args: () => [],
    },
    {
      name: 'image export pushed to a registry',
      windowMs: 800,
      state: (n) =>
        base
          .run({ shell: `head -c 8000000 /dev/urandom > /r-${n}` })
          .root()
          .file(mkfile(`/m-${n}`, 0o644, `${n}\n`)),
      args: (n) => ['--output', `type=image,name=${registry.host}/crash/app-${n}:latest,push=true`],
    },
    {
      name: 'OCI tarball sent to the client',
      windowMs: 650,
      state: (n) => base.run({ shell: `head -c 8000000 /dev/urandom > /t-${n}` }).root(),
      args: (n) => ['--output', `type=oci,dest=${join(work, `out-${n}.tar`)}`],
    },
    {
      name: 'pull and unpack after prune',
      windowMs: 500,
      fresh: true,
      state: (n) => base.run({ shell: `echo pulled ${n} > /p` }).root(),
      args: () => [],
    },
  ];

  it(`${kills} kills (seed ${seed}): after each restart the root is sound, nothing committed is lost, builds succeed`, async (t) => {
    const next = random(seed);
    const build = (d: KilndProcess, state: State, args: readonly string[] = []): Promise<BuildctlResult> =>
      buildctl(d.address, ['build', '--progress', 'plain', ...args], def(state));
    let daemon = await startKilnd({ args: ['--config', config] });
    const root = daemon.root;
    const figures = { kills: 0, midBuild: 0, blobsLost: 0, snapshotsLost: 0, bytesLost: 0, checkedBlobs: 0 };
    const landed = new Map<string, number>();
    try {
      for (let i = 0; i < kills; i++) {
        // A build that completes: what it commits is acknowledged and must survive the crash.
        const done = await build(daemon, base.run({ shell: `echo done ${i} > /done` }).root());
        assert.equal(
          done.code,
          0,
          `build after restart ${i} failed:\n${done.stderr}\n${daemon.logs().slice(-3000)}`,
        );
        const victim = victims[Math.floor(next() * victims.length)]!;
        if (victim.fresh) {
          const pruned = await buildctl(daemon.address, ['prune', '--all']);
          assert.equal(pruned.code, 0, pruned.stderr);
        }
        const kept = await inventory(root);
        // Not before ~150 ms: the client needs that long to reach the daemon at all.
        const delayMs = 150 + Math.round(next() * victim.windowMs);
        const where = `kill ${i + 1} of ${kills} (seed ${seed}): ${victim.name}, ${delayMs} ms in`;
        const running = build(daemon, victim.state(i), victim.args(i));
        await sleep(delayMs);
        await daemon.stop('SIGKILL');
        const outcome = await running;
        t.diagnostic(
          `${where}: the build ${outcome.code === 0 ? `had finished (${outcome.ms} ms)` : 'was cut'}`,
        );
        figures.kills++;
        if (outcome.code !== 0) {
          figures.midBuild++;
          landed.set(victim.name, (landed.get(victim.name) ?? 0) + 1);
        }
        // A restarted daemon's socket has a directory of its own; the first one's also holds the root.
        if (dirname(daemon.socket) !== dirname(root))
          await rm(dirname(daemon.socket), { recursive: true, force: true });
        daemon = await startKilnd({ root, args: ['--config', config] });
        // The socket is up before start-up repair is done; `du` waits for the daemon to be ready.
        const du = await buildctl(daemon.address, ['du']);
        assert.equal(
          du.code,
          0,
          `${where}: du after restart failed:\n${du.stderr}\n${daemon.logs().slice(-3000)}`,
        );
        const report = await checkIntegrity(root);
        assert.deepEqual(report.problems, [], where);
        figures.checkedBlobs += report.blobs;
        const loss = lost(kept, await inventory(root));
        assert.deepEqual(
          loss,
          { blobs: 0, snapshots: 0, bytes: 0 },
          `${where}: committed data lost\n${daemon.logs().slice(-4000)}`,
        );
        figures.blobsLost += loss.blobs;
        figures.snapshotsLost += loss.snapshots;
        figures.bytesLost += loss.bytes;
      }
      const last = await build(daemon, base.run({ shell: 'echo after every crash > /last' }).root());
      assert.equal(last.code, 0, last.stderr);
      t.diagnostic(
        `kills ${figures.kills} (seed ${seed}), mid-build ${figures.midBuild} ` +
          `(${[...landed].map(([name, n]) => `${name}: ${n}`).join(', ')}), ` +
          `integrity checks passed ${figures.kills} (${figures.checkedBlobs} blob digests verified), ` +
          `blobs lost ${figures.blobsLost}, snapshots lost ${figures.snapshotsLost}, bytes lost ${figures.bytesLost}`,
      );
    } finally {
      await daemon.dispose();
      await rm(dirname(root), { recursive: true, force: true });
    }
  });
});
