// Tar archives and images whose entries try to reach outside the tree they are unpacked into,
// aimed at a sentinel directory on the host that must come through untouched.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';

/** One tar entry: its header as written and a file's content. */
export interface TarEntry {
  readonly header: Partial<Header> & { readonly name: string };
  readonly data?: string;
}
import { MediaType, sha256, type Descriptor } from '../../oci/index.js';
import { busyboxLayout } from '../fixtures/busybox-image.js';
import type { TestRegistry } from '../fixtures/registry.js';

const run = promisify(execFile);
const upward = '../'.repeat(12);

/** The first block device of the host (`/proc/partitions`): what a device node in a layer would expose. */
async function hostDisk(): Promise<{ major: number; minor: number }> {
  const line = (await readFile('/proc/partitions', 'utf8'))
    .split('\n')
    .find((l) => /^\s*\d+\s+\d+\s+\d+\s+\S+/.test(l));
  const [major, minor] = (line ?? '8 0').trim().split(/\s+/).map(Number);
  return { major: major!, minor: minor! };
}

/**
 * Archives whose entries each try to write into `sentinel` (an absolute host directory), one
 * trick per archive so a refusal of one does not hide the others: `../` paths, absolute paths,
 * writes through absolute and relative symlinks, hardlinks to a host file then a write to the
 * link, and device nodes (the host's disk, /dev/mem). Each also holds a file that belongs.
 */
export async function escapingArchives(sentinel: string, keep: string): Promise<Record<string, TarEntry[]>> {
  const disk = await hostDisk();
  const file = (name: string, data: string): TarEntry => ({
    header: { name, type: 'file', mode: 0o644 },
    data,
  });
  const entry = (header: TarEntry['header']): TarEntry => ({ header: { mode: 0o777, ...header } });
  const up = `${upward}${sentinel.slice(1)}`;
  const archives: Record<string, TarEntry[]> = {
    'dot-dot': [file(`${up}/dotdot-escape`, 'escaped')],
    absolute: [file(`${sentinel}/absolute-escape`, 'escaped')],
    'symlink-then-write': [
      entry({ name: 'abs-link', type: 'symlink', linkname: sentinel }),
      file('abs-link/via-absolute-symlink', 'escaped'),
      entry({ name: 'rel-link', type: 'symlink', linkname: up }),
      file('rel-link/via-relative-symlink', 'escaped'),
    ],
    hardlink: [
      entry({ name: 'hard-abs', type: 'link', linkname: keep }),
      entry({ name: 'hard-rel', type: 'link', linkname: `${upward}${keep.slice(1)}` }),
      file('hard-abs', 'overwritten through a hardlink'),
      file('hard-rel', 'overwritten through a hardlink'),
    ],
    devices: [
      entry({
        name: 'evil-disk',
        type: 'block-device',
        mode: 0o666,
        devmajor: disk.major,
        devminor: disk.minor,
      }),
      entry({ name: 'evil-mem', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 1 }),
    ],
  };
  for (const entries of Object.values(archives)) entries.push(file('inside', 'a file that belongs here'));
  return archives;
}

/** A tar of `entries` exactly as given (names are not cleaned). */
export async function tarOf(entries: readonly TarEntry[]): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => archive.on('end', () => resolve()));
  for (const { header, data } of entries) archive.entry({ ...header, mtime: new Date(0) }, data ?? '');
  archive.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * Pushes `registry/repo:latest`: busybox (linux/amd64) with `layer` (an uncompressed tar) on top,
 * through an OCI layout and skopeo, as an independent client would.
 */
export async function pushImageWithLayer(
  registry: TestRegistry,
  repo: string,
  layer: Buffer,
  dir: string,
): Promise<string> {
  const busybox = await busyboxLayout();
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (mediaType: string, data: Buffer): Promise<Descriptor> => {
    const digest = sha256(data);
    await writeFile(join(blobs, digest.slice(7)), data);
    return { mediaType, digest, size: data.length };
  };
  const base = busybox.images.amd64;
  await copyFile(
    join(busybox.dir, 'blobs', 'sha256', base.layer.digest.slice(7)),
    join(blobs, base.layer.digest.slice(7)),
  );
  const top = await put(MediaType.ociLayerGzip, gzipSync(layer));
  const config = await put(
    MediaType.ociConfig,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] },
        rootfs: { type: 'layers', diff_ids: [base.diffId, sha256(layer)] },
      }),
    ),
  );
  const manifest = await put(
    MediaType.ociManifest,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config,
        layers: [base.layer, top],
      }),
    ),
  );
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const named = { ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } };
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [named] }));
  const ref = `${registry.host}/${repo}:latest`;
  await run('skopeo', [
    '--insecure-policy',
    'copy',
    '--dest-tls-verify=false',
    `oci:${dir}:latest`,
    `docker://${ref}`,
  ]);
  return ref;
}

/** Every entry under `dir` with its type, size, mode, mtime and content: equal snapshots mean untouched. */
export async function snapshotTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const path = join(dir, name);
    const info = await stat(path);
    const content = info.isFile() ? await readFile(path, 'utf8') : '';
    out.push(`${name} ${info.mode.toString(8)} ${info.size} ${info.mtimeMs} ${info.nlink} ${content}`);
  }
  return out;
}
