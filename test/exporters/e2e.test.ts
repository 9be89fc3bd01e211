import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { image, marshal, mkfile, type State } from '../../llb/index.js';
import { MediaType, sha256 } from '../../oci/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { buildctl } from '../fixtures/buildctl.js';
import { pushBusyboxIndex, type PushedBusybox } from '../fixtures/busybox-image.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { inspectRaw, run } from './harness.js';

const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';

describe('exporters through kilnd and the real buildctl', { skip }, () => {
  let daemon: KilndProcess;
  let registry: TestRegistry;
  let work: string;
  let state: State;
  let busybox: PushedBusybox;

  const build = async (output: string, name: string, extra: string[] = []) => {
    const metadata = join(work, `${name}.json`);
    const result = await buildctl(
      daemon.address,
      ['build', '--progress', 'plain', '--output', output, '--metadata-file', metadata, ...extra],
      toBinary(DefinitionSchema, marshal(state)),
    );
    assert.equal(result.code, 0, `${result.stderr}\n${daemon.logs().slice(-3000)}`);
    // buildctl writes no metadata file for an empty response (tar, local).
    const text = await readFile(metadata, 'utf8').catch(() => '{}');
    return { stderr: result.stderr, metadata: JSON.parse(text) as Record<string, unknown> };
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-exporters-e2e-'));
    registry = await startRegistry({ auth: 'none' });
    busybox = await pushBusyboxIndex(registry);
    daemon = await startKilnd();
    state = image(`${registry.host}/library/busybox:latest`)
      .file(mkfile('/hello.txt', 0o644, 'hello e2e\n'))
      .run({ args: ['/bin/sh', '-c', 'echo built > /built.txt'] })
      .root();
  });

  after(async () => {
    await daemon?.dispose();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('--output type=image,push=true pushes, answers --metadata-file and shows BuildKit progress', async () => {
    const name = `${registry.host}/e2e/app:1`;
    const { stderr, metadata } = await build(`type=image,name=${name},push=true`, 'image');
    const raw = await inspectRaw(registry, 'e2e/app:1');
    const manifest = JSON.parse(raw.toString()) as { config: { digest: string }; layers: unknown[] };
    assert.equal(metadata['containerimage.digest'], sha256(raw));
    assert.equal(metadata['containerimage.config.digest'], manifest.config.digest);
    assert.equal(metadata['image.name'], name);
    assert.deepEqual(metadata['containerimage.descriptor'], {
      mediaType: MediaType.dockerManifest,
      digest: sha256(raw),
      size: raw.length,
      platform: { architecture: 'amd64', os: 'linux' },
    });
    assert.equal(manifest.layers.length, 3, 'busybox, the mkfile and the run');
    for (const line of [
      'exporting to image',
      'exporting layers',
      `exporting manifest ${sha256(raw)}`,
      `exporting config ${manifest.config.digest}`,
      `naming to ${name}`,
      'pushing layers',
      `pushing manifest for ${name}@${sha256(raw)}`,
    ]) {
      assert.ok(stderr.includes(line), `progress shows ${JSON.stringify(line)}:\n${stderr}`);
    }
    const config = JSON.parse((await inspectRaw(registry, 'e2e/app:1', true)).toString()) as {
      config: { Env: string[]; WorkingDir: string };
      rootfs: { diff_ids: string[] };
      history: unknown[];
    };
    assert.equal(config.rootfs.diff_ids.length, 3);
    assert.equal(config.history.length, 3);
    assert.equal(config.config.WorkingDir, '/');
  });

  it('puts the base image into the target repository while a later step still runs', async () => {
    const slow = image(`${registry.host}/library/busybox:latest`)
      .file(mkfile('/early.txt', 0o644, `early ${Date.now()}\n`))
      .run({ args: ['/bin/sh', '-c', 'sleep 3; echo late > /late.txt'] })
      .root();
    const base = busybox.layout.images.amd64.layer.digest;
    const present = async (): Promise<boolean> =>
      (await fetch(`http://${registry.host}/v2/e2e/early/blobs/${base}`, { method: 'HEAD' })).status === 200;
    let finished = false;
    const pending = buildctl(
      daemon.address,
      ['build', '--output', `type=image,name=${registry.host}/e2e/early:1,push=true`],
      toBinary(DefinitionSchema, marshal(slow)),
    ).finally(() => (finished = true));
    let seenAt = Number.POSITIVE_INFINITY;
    while (!finished) {
      if (await present()) {
        seenAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const result = await pending;
    assert.equal(result.code, 0, result.stderr);
    // There while `sleep 3` ran (mounted from library/busybox), not only after the export.
    const ahead = Date.now() - seenAt;
    assert.ok(ahead > 1500, `base layer in e2e/early ${ahead} ms before the build ended`);
    const manifest = JSON.parse((await inspectRaw(registry, 'e2e/early:1')).toString()) as {
      layers: Array<{ digest: string }>;
    };
    assert.equal(manifest.layers.length, 3);
    assert.equal(manifest.layers[0]!.digest, base);
    await registry.settle();
    const arrivals = registry
      .requestLog()
      .filter((l) => /^(PUT|POST) \/v2\/e2e\/early\/blobs\/uploads\/\S*(digest|mount)=\S* 201$/.test(l));
    assert.equal(arrivals.length, 4, `three layers and the config, each once:\n${arrivals.join('\n')}`);
  });

  it('--output type=oci writes a tarball skopeo accepts, with the response in the metadata file', async () => {
    const dest = join(work, 'out.tar');
    const { stderr, metadata } = await build(`type=oci,dest=${dest},name=example.com/e2e/oci:v2`, 'oci');
    assert.match(stderr, /exporting to oci image format/);
    assert.match(stderr, /sending tarball/);
    const { stdout: listing } = await run('tar', ['-tf', dest]);
    const members = listing.trim().split('\n');
    assert.ok(members.includes('oci-layout') && members.includes('index.json'), listing);
    const { stdout: indexJson } = await run('tar', ['-xOf', dest, 'index.json']);
    const index = JSON.parse(indexJson) as {
      manifests: Array<{ digest: string; annotations: Record<string, string> }>;
    };
    assert.equal(index.manifests[0]!.digest, metadata['containerimage.digest']);
    assert.equal(index.manifests[0]!.annotations['org.opencontainers.image.ref.name'], 'v2');
    assert.equal(metadata['image.name'], 'example.com/e2e/oci:v2');
    const descriptor = metadata['containerimage.descriptor'] as {
      mediaType: string;
      annotations: Record<string, string>;
    };
    assert.equal(descriptor.mediaType, MediaType.ociManifest);
    assert.match(
      descriptor.annotations['org.opencontainers.image.created']!,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );
    const copied = join(work, 'from-oci-archive');
    await run('skopeo', ['--insecure-policy', 'copy', `oci-archive:${dest}`, `oci:${copied}:x`]);
    assert.ok((await readdir(join(copied, 'blobs', 'sha256'))).length >= 5);
  });

  it('leaves an inline-only provenance out of a single-platform oci tarball, as BuildKit (docker buildx default)', async () => {
    const inlineOnly = ['--opt', 'attest:provenance=mode=min,inline-only=true'];
    const indexOf = async (dest: string) => {
      const { stdout } = await run('tar', ['-xOf', dest, 'index.json']);
      return JSON.parse(stdout) as { manifests: Array<{ mediaType: string }> };
    };
    const plain = join(work, 'inline-only.tar');
    const { metadata } = await build(`type=oci,dest=${plain}`, 'inline-only', inlineOnly);
    assert.equal((await indexOf(plain)).manifests[0]!.mediaType, MediaType.ociManifest);
    assert.ok(metadata['containerimage.config.digest'], 'a single image answers its config digest');
    const forced = join(work, 'inline-forced.tar');
    await build(`type=oci,dest=${forced},attestation-inline=true`, 'inline-forced', inlineOnly);
    assert.equal((await indexOf(forced)).manifests[0]!.mediaType, MediaType.ociIndex);
    const name = `${registry.host}/e2e/inline-only:1`;
    await build(`type=image,name=${name},push=true`, 'inline-image', inlineOnly);
    const pushed = JSON.parse((await inspectRaw(registry, 'e2e/inline-only:1')).toString()) as {
      manifests: unknown[];
    };
    assert.equal(pushed.manifests.length, 2, 'the image exporter attaches it');
  });

  it('records what each platform was built from in provenance and build info, as BuildKit does', async () => {
    const ctx = join(work, 'sources-ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        `FROM ${registry.host}/library/busybox:latest AS tool`,
        'RUN echo tool > /tool',
        `FROM ${registry.host}/library/busybox`,
        'COPY --from=tool /tool /tool',
        'COPY a.txt /a.txt',
        'RUN --mount=type=secret,id=token --mount=type=secret,id=cert,required=true true',
        '',
      ].join('\n'),
    );
    await writeFile(join(ctx, 'a.txt'), 'a');
    const dest = join(work, 'sources.tar');
    const metadata = join(work, 'sources.json');
    const result = await buildctl(daemon.address, [
      'build',
      ...['--frontend', 'dockerfile.v0', '--local', `context=${ctx}`, '--local', `dockerfile=${ctx}`],
      ...['--opt', 'platform=linux/amd64,linux/arm64', '--opt', 'attest:provenance=mode=min'],
      ...['--secret', 'id=token,env=HOME', '--secret', 'id=cert,env=HOME'],
      ...['--output', `type=oci,dest=${dest}`, '--metadata-file', metadata],
    ]);
    assert.equal(result.code, 0, `${result.stderr}\n${daemon.logs().slice(-3000)}`);
    const blob = async (digest: string) =>
      JSON.parse((await run('tar', ['-xOf', dest, `blobs/sha256/${digest.slice(7)}`])).stdout) as Record<
        string,
        unknown
      >;
    const top = JSON.parse((await run('tar', ['-xOf', dest, 'index.json'])).stdout) as {
      manifests: Array<{ digest: string }>;
    };
    const index = (await blob(top.manifests[0]!.digest)) as {
      manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
    };
    const host = encodeURIComponent(registry.host);
    const seen = [];
    for (const m of index.manifests) {
      if (m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest') continue;
      const manifest = (await blob(m.digest)) as { layers: Array<{ digest: string }> };
      const { predicate } = (await blob(manifest.layers[0]!.digest)) as {
        predicate: {
          materials: unknown;
          invocation: { parameters: Record<string, unknown> };
          metadata: { completeness: { materials: boolean } };
        };
      };
      const arch = /platform=linux%2F(\w+)/.exec(JSON.stringify(predicate.materials))?.[1];
      seen.push(arch);
      // One material per image reference and platform: the tag the Dockerfile wrote, pinned to what it resolved to.
      assert.deepEqual(predicate.materials, [
        {
          uri: `pkg:docker/${host}/library/busybox@latest?platform=linux%2F${arch}`,
          digest: { sha256: busybox.indexDigest.slice(7) },
        },
      ]);
      assert.deepEqual(predicate.invocation.parameters['locals'], [
        { name: 'context' },
        { name: 'dockerfile' },
      ]);
      assert.deepEqual(predicate.invocation.parameters['secrets'], [
        { id: 'cert' },
        { id: 'token', optional: true },
      ]);
      assert.equal(
        predicate.metadata.completeness.materials,
        false,
        'a local context makes materials incomplete',
      );
    }
    assert.deepEqual(seen.sort(), ['amd64', 'arm64']);
    const answered = JSON.parse(await readFile(metadata, 'utf8')) as Record<string, unknown>;
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const info = answered[`containerimage.buildinfo/${platform}`];
      const decoded = (
        typeof info === 'string' ? JSON.parse(Buffer.from(info, 'base64').toString()) : info
      ) as {
        sources: unknown;
      };
      assert.deepEqual(decoded.sources, [
        { type: 'docker-image', ref: `${registry.host}/library/busybox:latest`, pin: busybox.indexDigest },
      ]);
    }
  });

  it('--output type=docker writes what docker load reads (manifest.json, repositories)', async () => {
    const dest = join(work, 'docker.tar');
    await build(`type=docker,dest=${dest},name=e2e/docker:1`, 'docker');
    const { stdout: listing } = await run('tar', ['-tf', dest]);
    const members = new Set(listing.trim().split('\n'));
    const manifests = JSON.parse((await run('tar', ['-xOf', dest, 'manifest.json'])).stdout) as Array<{
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }>;
    assert.equal(manifests.length, 1);
    assert.deepEqual(manifests[0]!.RepoTags, ['e2e/docker:1']);
    assert.equal(manifests[0]!.Layers.length, 3);
    for (const path of [manifests[0]!.Config, ...manifests[0]!.Layers]) assert.ok(members.has(path), path);
    const repositories = JSON.parse((await run('tar', ['-xOf', dest, 'repositories'])).stdout) as Record<
      string,
      Record<string, string>
    >;
    assert.deepEqual(Object.keys(repositories), ['e2e/docker']);
    assert.deepEqual(Object.keys(repositories['e2e/docker']!), ['1']);
    // skopeo reads Docker archives through manifest.json, as docker load does.
    await run('skopeo', [
      '--insecure-policy',
      'copy',
      `docker-archive:${dest}`,
      `oci:${join(work, 'from-docker')}:x`,
    ]);
  });

  it('--output type=oci,tar=false fills the client directory through its content store', async () => {
    const dest = join(work, 'layout');
    const { metadata } = await build(`type=oci,dest=${dest},tar=false,name=example.com/e2e/dir:3`, 'dir');
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    assert.equal(index.manifests[0]!.digest, metadata['containerimage.digest']);
    await run('skopeo', ['--insecure-policy', 'copy', `oci:${dest}`, `oci:${join(work, 'from-dir')}:x`]);
  });

  it('--output type=tar and type=local still send the result files', async () => {
    const tar = join(work, 'files.tar');
    await build(`type=tar,dest=${tar}`, 'tar');
    assert.equal((await run('tar', ['-xOf', tar, 'hello.txt'])).stdout, 'hello e2e\n');
    const dir = join(work, 'files');
    await build(`type=local,dest=${dir}`, 'local');
    assert.equal(await readFile(join(dir, 'built.txt'), 'utf8'), 'built\n');
  });
});
