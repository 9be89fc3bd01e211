import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MediaType, parseDigest, sha256, type Descriptor, type ImageConfig } from '../../oci/index.js';
import type { TestRegistry } from '../fixtures/registry.js';

const run = promisify(execFile);
/** Bump when the recipe changes, so a stale cached layout is rebuilt. */
const recipe = 'v2';
const cacheDir = join(tmpdir(), 'kiln-fixtures', 'node-bookworm', recipe);
const mirror = 'http://deb.debian.org/debian';
const hostCaBundle = '/etc/ssl/certs/ca-certificates.crt';
const baseCaBundle = 'usr/local/share/kiln-test/host-ca.crt';

/** Why the image suite cannot run here, or false. */
export function nodeBaseSkipReason(): string | false {
  // About six minutes on two cores (debootstrap once, then apt-get, npm ci and tsc inside the
  // build): too long for every CI run, so it runs on request.
  if (!process.env.KILN_TEST_IMAGE)
    return "set KILN_TEST_IMAGE=1 to build kiln's own image (about 6 minutes)";
  if (process.getuid?.() !== 0) return 'debootstrap and runc need root';
  for (const tool of ['/usr/sbin/debootstrap', '/usr/bin/skopeo', '/usr/sbin/runc']) {
    if (!existsSync(tool)) return `${tool} is missing (apt-get install debootstrap skopeo runc)`;
  }
  return false;
}

/**
 * A stand-in for `node:20-bookworm-slim`, which this machine cannot pull: Debian bookworm
 * (debootstrap's minbase variant, from Debian's archive) with the host's Node 20 and npm copied
 * into /usr/local as the official image lays them out. The headers come along and
 * `npm_config_nodedir` points at them, because node-gyp would otherwise download them from
 * nodejs.org. The host's CA bundle comes too (NODE_EXTRA_CA_CERTS), so npm inside the build
 * trusts what npm on the host trusts. One gzip layer in an OCI layout, built once per machine under the temp dir.
 */
export async function nodeBaseLayout(): Promise<{ dir: string; manifest: Descriptor }> {
  const summary = join(cacheDir, 'kiln-fixture.json');
  if (existsSync(summary)) {
    return { dir: cacheDir, manifest: JSON.parse(await readFile(summary, 'utf8')) as Descriptor };
  }
  await mkdir(join(cacheDir, '..'), { recursive: true });
  const work = await mkdtemp(join(cacheDir, '..', `build-${recipe}-`));
  try {
    const root = join(work, 'rootfs');
    await run('debootstrap', ['--variant=minbase', 'bookworm', root, mirror], { maxBuffer: 64 << 20 });
    await addNode(root);
    const layout = join(work, 'layout');
    const manifest = await writeLayout(root, layout);
    await writeFile(join(layout, 'kiln-fixture.json'), JSON.stringify(manifest));
    await rm(cacheDir, { recursive: true, force: true });
    await rename(layout, cacheDir);
    return { dir: cacheDir, manifest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function addNode(root: string): Promise<void> {
  const local = join(root, 'usr', 'local');
  await mkdir(join(local, 'bin'), { recursive: true });
  await mkdir(join(local, 'lib', 'node_modules'), { recursive: true });
  await cp(process.execPath, join(local, 'bin', 'node'));
  const hostPrefix = join(process.execPath, '..', '..');
  await cp(join(hostPrefix, 'lib', 'node_modules', 'npm'), join(local, 'lib', 'node_modules', 'npm'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  await cp(join(hostPrefix, 'include', 'node'), join(local, 'include', 'node'), { recursive: true });
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
  // The host's trust store, so that `npm ci` inside a build reaches the registry the way the host
  // does (including through a TLS-inspecting egress proxy whose CA the host trusts).
  // Kept apart from /etc/ssl/certs, which installing ca-certificates in a build rewrites.
  await mkdir(join(root, 'usr', 'local', 'share', 'kiln-test'), { recursive: true });
  await cp(hostCaBundle, join(root, baseCaBundle));
  // As the slim images do: no package lists or downloaded packages in the base.
  await rm(join(root, 'var', 'lib', 'apt', 'lists'), { recursive: true, force: true });
  await mkdir(join(root, 'var', 'lib', 'apt', 'lists', 'partial'), { recursive: true });
  await run('sh', ['-c', `rm -f ${join(root, 'var', 'cache', 'apt', 'archives')}/*.deb`]);
}

async function putBlob(dir: string, mediaType: string, data: Buffer): Promise<Descriptor> {
  const digest = sha256(data);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return { mediaType, digest, size: data.length };
}

async function writeLayout(root: string, dir: string): Promise<Descriptor> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const tar = join(dir, 'layer.tar');
  // Debian's owners stay as they are (numeric): apt's _apt-owned directories need them.
  await run('tar', [
    '--sort=name',
    '--mtime=@0',
    '--numeric-owner',
    '--format=pax',
    '-C',
    root,
    '-cf',
    tar,
    '.',
  ]);
  const diffId = (await run('sha256sum', [tar])).stdout.split(' ')[0]!;
  await run('gzip', ['-n', '-6', tar]);
  const gz = await readFile(`${tar}.gz`);
  await rm(`${tar}.gz`);
  const layer = await putBlob(dir, MediaType.ociLayerGzip, gz);
  const config: ImageConfig = {
    created: '1970-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: {
      Env: [
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'npm_config_nodedir=/usr/local',
        `NODE_EXTRA_CA_CERTS=/${baseCaBundle}`,
      ],
      Cmd: ['node'],
    },
    rootfs: { type: 'layers', diff_ids: [parseDigest(`sha256:${diffId}`)] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'kiln test fixture: debootstrap + host node' }],
  };
  const configDesc = await putBlob(dir, MediaType.ociConfig, Buffer.from(JSON.stringify(config)));
  const manifest = await putBlob(
    dir,
    MediaType.ociManifest,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: configDesc,
        layers: [layer],
      }),
    ),
  );
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const top = { ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } };
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [top] }),
  );
  return manifest;
}

/** Pushes the base to `registry` as `repo:tag` with skopeo; resolves with the reference. */
export async function pushNodeBase(
  registry: TestRegistry,
  repo = 'library/node',
  tag = '20-bookworm-slim',
): Promise<string> {
  const layout = await nodeBaseLayout();
  const ref = `${registry.host}/${repo}:${tag}`;
  await run('skopeo', [
    '--insecure-policy',
    'copy',
    '--preserve-digests',
    '--dest-tls-verify=false',
    `oci:${layout.dir}:latest`,
    `docker://${ref}`,
  ]);
  return ref;
}
