import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { MediaType, sha256, type ImageConfig } from '../../oci/index.js';
import type { TestRegistry } from '../fixtures/registry.js';

const run = promisify(execFile);
const gzipAsync = promisify(gzip);
/** Bump when the recipe changes, so stale cached layouts are rebuilt. */
const recipe = 'v1';

/** The shared libraries (and the dynamic loader) `binary` needs, as absolute host paths. */
async function libraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  const paths = new Set<string>();
  for (const line of stdout.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) paths.add(m[1]!);
  }
  return [...paths];
}

async function tarOf(dir: string): Promise<Buffer> {
  const child = spawn(
    'tar',
    [
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--format=gnu',
      '-C',
      dir,
      '-cf',
      '-',
      '.',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stderr.on('data', (c: Buffer) => (stderr += String(c)));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`tar of ${dir} failed (${code}): ${stderr}`);
  return Buffer.concat(chunks);
}

async function buildLayout(dir: string, work: string): Promise<void> {
  const rootfs = join(work, 'rootfs');
  const node = await realpath(process.execPath);
  await mkdir(join(rootfs, 'usr/local/bin'), { recursive: true });
  await copyFile(node, join(rootfs, 'usr/local/bin/node'));
  // Each library under the name the loader looks for (a symlink's target copied in its place).
  for (const lib of await libraries(node)) {
    await mkdir(join(rootfs, dirname(lib)), { recursive: true });
    await copyFile(await realpath(lib), join(rootfs, lib));
  }
  for (const d of ['tmp', 'etc', 'run', 'proc', 'sys', 'dev'])
    await mkdir(join(rootfs, d), { recursive: true });
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\n');

  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (mediaType: string, data: Buffer) => {
    const digest = sha256(data);
    await writeFile(join(blobs, digest.slice(7)), data);
    return { mediaType, digest, size: data.length };
  };
  const tar = await tarOf(rootfs);
  const layer = await put(MediaType.ociLayerGzip, await gzipAsync(tar, { level: 1 }));
  const config: ImageConfig = {
    created: '1970-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['node'] },
    rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
    history: [
      { created: '1970-01-01T00:00:00Z', created_by: `kiln test fixture: host node ${process.version}` },
    ],
  };
  const configDesc = await put(MediaType.ociConfig, Buffer.from(JSON.stringify(config)));
  const manifest = await put(
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
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
}

/**
 * A Node base image for frontend images (linux/amd64): the host's `node` binary at
 * /usr/local/bin/node with the libraries `ldd` lists, as an OCI layout built once per machine and
 * Node version under the temp dir (about 100 MB unpacked).
 */
export async function nodeImageLayout(): Promise<string> {
  const cacheDir = join(tmpdir(), 'kiln-fixtures', 'node-image', `${recipe}-${process.version}`);
  if (existsSync(join(cacheDir, 'index.json'))) return cacheDir;
  await mkdir(dirname(cacheDir), { recursive: true });
  const work = await mkdtemp(`${cacheDir}-build-`);
  try {
    const layout = join(work, 'layout');
    await buildLayout(layout, work);
    await rename(layout, cacheDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
    return cacheDir;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Pushes the Node base image to `registry` as `kiln/node:<major>`; resolves its reference. */
export async function pushNodeImage(registry: TestRegistry): Promise<string> {
  const layout = await nodeImageLayout();
  const ref = `${registry.host}/kiln/node:${process.versions.node.split('.')[0]}`;
  await run('skopeo', [
    '--insecure-policy',
    'copy',
    '--preserve-digests',
    '--dest-tls-verify=false',
    `oci:${layout}:latest`,
    `docker://${ref}`,
  ]);
  return ref;
}
