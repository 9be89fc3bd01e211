import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  bkExecDigest,
  bkImageDigest,
  bkRecordDigest,
  BuildKitRecords,
  marshalCacheConfig,
  parseCacheConfig,
  sortConfig,
  type CacheConfig,
} from '../../exporters/index.js';
import { image, marshal, type State } from '../../llb/index.js';
import { MediaType, sha256, type Digest } from '../../oci/index.js';
import { DefinitionSchema, OpSchema, type ExecOp } from '../../proto/gen/pb/ops_pb.js';
import { buildctl } from '../fixtures/buildctl.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { buildkitdPath, startBuildkitd, type Buildkitd } from './buildkitd.js';
import { build, steps } from './harness.js';

const skip =
  buildctlPath() && buildkitdPath ? false : 'needs /tmp/bk/buildctl and /tmp/bk/buildkitd (v0.11.6)';

/** `[n/m] INSTRUCTION` lines of a Dockerfile build's plain progress, with whether each was CACHED. */
function dockerfileSteps(stderr: string): Array<{ name: string; cached: boolean }> {
  const out = new Map<string, { name: string; cached: boolean }>();
  for (const line of stderr.split('\n')) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) continue;
    if (/^\[(\S+ )?\d+\/\d+\] /.test(m[2]!) && !out.has(m[1]!))
      out.set(m[1]!, { name: ` ${m[2]!}`, cached: false });
    if (m[2] === 'CACHED' && out.has(m[1]!)) out.get(m[1]!)!.cached = true;
  }
  return [...out.values()];
}

/** The exec ops of a definition, base first (each runs on the previous one's root). */
function execOps(state: State): ExecOp[] {
  const ops = marshal(state).def.map((bytes) => ({ digest: sha256(bytes), op: fromBinary(OpSchema, bytes) }));
  const out: ExecOp[] = [];
  for (const { op } of ops) if (op.op.case === 'exec') out.push(op.op.value);
  return out;
}

describe('cache interop with BuildKit v0.11.6', { skip }, () => {
  let registry: TestRegistry;
  let buildkit: Buildkitd;
  let kiln: KilndProcess;
  let state: State;
  let indexDigest: Digest;

  const cacheConfig = async (repo: string, tag: string): Promise<CacheConfig> => {
    const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
      headers: { accept: `${MediaType.ociIndex}, ${MediaType.dockerManifestList}` },
    });
    assert.equal(res.status, 200);
    const index = (await res.json()) as { manifests: Array<{ mediaType: string; digest: string }> };
    const desc = index.manifests.find((m) => m.mediaType === MediaType.buildkitCacheConfig)!;
    const blob = await fetch(`http://${registry.host}/v2/${repo}/blobs/${desc.digest}`);
    const bytes = Buffer.from(await blob.arrayBuffer());
    const config = parseCacheConfig(bytes, `${repo}:${tag}`);
    // kiln writes configs byte for byte as BuildKit does: reading and writing one changes nothing.
    assert.equal(marshalCacheConfig(sortConfig(config)).toString(), bytes.toString());
    return config;
  };

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    const pushed = await pushBusyboxIndex(registry);
    indexDigest = pushed.indexDigest;
    buildkit = await startBuildkitd([registry.host]);
    kiln = await startKilnd();
    state = image(`${registry.host}/library/busybox:latest`)
      .run({ args: ['/bin/sh', '-c', 'echo one > /one'], env: { PATH: '/bin:/usr/bin', A: 'b' }, cwd: '/' })
      .root()
      .run({ args: ['/bin/sh', '-c', 'cat /one > /two'] })
      .root();
  });

  after(async () => {
    await kiln?.dispose();
    await buildkit?.dispose();
    await registry?.stop();
  });

  it("kiln computes BuildKit's own record digests and links for image sources and exec steps", async () => {
    const ref = `${registry.host}/bk/app:max`;
    const exported = await buildctl(
      buildkit.address,
      [
        'build',
        '--progress',
        'plain',
        '--export-cache',
        `type=registry,ref=${ref},mode=max,registry.insecure=true,cache-mounts=true`,
      ],
      toBinary(DefinitionSchema, marshal(state)),
    );
    assert.equal(exported.code, 0, `${exported.stderr}\n${buildkit.logs().slice(-3000)}`);
    const config = await cacheConfig('bk/app', 'max');
    const records = new BuildKitRecords(config);
    const platform = { os: 'linux', architecture: 'amd64' };
    const imageRoots = records.roots(bkRecordDigest(bkImageDigest(indexDigest, platform), 0));
    assert.equal(imageRoots.length, 1, 'the image source root record');
    // The image's record may be reached by its manifest key or its config key: exec links from either.
    const allRoots = config.records.map((r, i) => (r.inputs?.length ? -1 : i)).filter((i) => i >= 0);
    const [first, second] = execOps(state);
    const one = records.linked(bkRecordDigest(bkExecDigest(first!, platform), 0), [allRoots]);
    assert.equal(one.length, 1, 'the first exec step, linked from the image');
    assert.ok(config.records[one[0]!]!.inputs![0]!.some((l) => imageRoots.includes(l.link)));
    const two = records.linked(bkRecordDigest(bkExecDigest(second!, platform), 0), [one]);
    assert.equal(two.length, 1, 'the second exec step, linked from the first');
    assert.ok(config.records[two[0]!]!.results?.length, 'with a result');
  });

  it("kiln imports a BuildKit cache and finds the exec steps under BuildKit's keys", async () => {
    const ref = `${registry.host}/bk/app:max`;
    const result = await build(
      kiln.address,
      state,
      ['--import-cache', `type=registry,ref=${ref}`],
      kiln.logs,
    );
    assert.match(result.stderr, new RegExp(`importing cache manifest from ${ref}`));
    assert.doesNotMatch(result.stderr, /cache not imported/);
    // BuildKit exports no result for the image itself (it is pulled); both runs are hits.
    assert.deepEqual(
      steps(result.stderr).map((s) => s.cached),
      [false, true, true],
      result.stderr,
    );
  });

  it("the same Dockerfile both ways: RUN steps are CACHED from the other daemon's cache", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-interop-df-'));
    try {
      await writeFile(
        join(dir, 'Dockerfile'),
        `FROM ${registry.host}/library/busybox:latest\nRUN --mount=type=cache,target=/var/cache/app echo one > /one && date > /var/cache/app/d\nRUN cat /one > /two && echo two >> /two\n`,
      );
      const ref = `${registry.host}/kiln/df:max`;
      const dockerfile = [
        'build',
        '--progress',
        'plain',
        '--frontend',
        'dockerfile.v0',
        '--local',
        `context=${dir}`,
        '--local',
        `dockerfile=${dir}`,
      ];
      const exported = await buildctl(kiln.address, [
        ...dockerfile,
        '--export-cache',
        `type=registry,ref=${ref},mode=max`,
      ]);
      assert.equal(exported.code, 0, `${exported.stderr}\n${kiln.logs().slice(-3000)}`);
      assert.equal((await buildctl(buildkit.address, ['prune', '--all'])).code, 0);
      const imported = await buildctl(buildkit.address, [
        ...dockerfile,
        '--import-cache',
        `type=registry,ref=${ref},registry.insecure=true`,
      ]);
      assert.equal(imported.code, 0, `${imported.stderr}\n${buildkit.logs().slice(-3000)}`);
      const runs = dockerfileSteps(imported.stderr).filter((s) => s.name.includes(' RUN '));
      assert.equal(runs.length, 2, imported.stderr);
      assert.ok(
        runs.every((s) => s.cached),
        `RUN steps CACHED from kiln's cache:\n${imported.stderr}`,
      );

      // And back: BuildKit's cache of the same Dockerfile gives kiln hits.
      const bkRef = `${registry.host}/bk/df:max`;
      const bkExport = await buildctl(buildkit.address, [
        ...dockerfile,
        '--export-cache',
        `type=registry,ref=${bkRef},mode=max,registry.insecure=true`,
      ]);
      assert.equal(bkExport.code, 0, bkExport.stderr);
      assert.equal((await buildctl(kiln.address, ['prune', '--all'])).code, 0);
      const back = await buildctl(kiln.address, [
        ...dockerfile,
        '--import-cache',
        `type=registry,ref=${bkRef}`,
      ]);
      assert.equal(back.code, 0, `${back.stderr}\n${kiln.logs().slice(-3000)}`);
      const kilnRuns = dockerfileSteps(back.stderr).filter((s) => s.name.includes(' RUN '));
      assert.equal(kilnRuns.length, 2, back.stderr);
      assert.ok(
        kilnRuns.every((s) => s.cached),
        `RUN steps CACHED from BuildKit's cache:\n${back.stderr}`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('inline caches both ways: the image of one daemon gives the other CACHED RUN steps', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-interop-inline-'));
    try {
      await writeFile(
        join(dir, 'Dockerfile'),
        `FROM ${registry.host}/library/busybox:latest\nRUN echo inline > /i\nRUN cat /i /i > /ii\n`,
      );
      const dockerfile = [
        'build',
        '--progress',
        'plain',
        '--frontend',
        'dockerfile.v0',
        '--local',
        `context=${dir}`,
        '--local',
        `dockerfile=${dir}`,
      ];
      const runsOf = (stderr: string) => dockerfileSteps(stderr).filter((s) => s.name.includes(' RUN '));

      const kilnImage = `${registry.host}/kiln/inline:1`;
      const kilnBuild = await buildctl(kiln.address, [
        ...dockerfile,
        '--output',
        `type=image,name=${kilnImage},push=true`,
        '--export-cache',
        'type=inline',
      ]);
      assert.equal(kilnBuild.code, 0, `${kilnBuild.stderr}\n${kiln.logs().slice(-3000)}`);
      assert.equal((await buildctl(buildkit.address, ['prune', '--all'])).code, 0);
      const bkFromKiln = await buildctl(buildkit.address, [
        ...dockerfile,
        '--import-cache',
        `type=registry,ref=${kilnImage},registry.insecure=true`,
      ]);
      assert.equal(bkFromKiln.code, 0, bkFromKiln.stderr);
      assert.deepEqual(
        runsOf(bkFromKiln.stderr).map((s) => s.cached),
        [true, true],
        bkFromKiln.stderr,
      );

      const bkImage = `${registry.host}/bk/inline:1`;
      const bkBuild = await buildctl(buildkit.address, [
        ...dockerfile,
        '--output',
        `type=image,name=${bkImage},push=true,registry.insecure=true`,
        '--export-cache',
        'type=inline',
      ]);
      assert.equal(bkBuild.code, 0, bkBuild.stderr);
      assert.equal((await buildctl(kiln.address, ['prune', '--all'])).code, 0);
      const kilnFromBk = await buildctl(kiln.address, [
        ...dockerfile,
        '--import-cache',
        `type=registry,ref=${bkImage}`,
      ]);
      assert.equal(kilnFromBk.code, 0, `${kilnFromBk.stderr}\n${kiln.logs().slice(-3000)}`);
      assert.deepEqual(
        runsOf(kilnFromBk.stderr).map((s) => s.cached),
        [true, true],
        kilnFromBk.stderr,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
