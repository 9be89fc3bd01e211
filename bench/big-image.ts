import { createHash, createCipheriv } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { runCommand } from './command.js';

/** A single-layer image of incompressible data, as an OCI layout cached on disk. */
export interface BigImage {
  /** OCI layout directory, tag `latest`. */
  readonly dir: string;
  /** Size of the compressed layer. */
  readonly layerBytes: number;
  /** Digest of the compressed layer. */
  readonly layerDigest: string;
}

const blockSize = 512;

function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(blockSize);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** A tar of `count` files of `size` pseudo-random bytes each (fixed key, so the digest is stable). */
function randomTar(count: number, size: number): Buffer {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 3), Buffer.alloc(16));
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(tarHeader(`data/blob${i}.bin`, size), cipher.update(Buffer.alloc(size)));
    const pad = (blockSize - (size % blockSize)) % blockSize;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(blockSize * 2));
  return Buffer.concat(parts);
}

const digestOf = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * The image (made once per machine under `inputsDir`): one gzip layer holding `megabytes` MB of
 * random data in 10 files, so pulls and pushes move that many bytes whatever the compressor.
 * Costs a few seconds the first time.
 */
export async function bigImage(inputsDir: string, megabytes: number): Promise<BigImage> {
  const dir = join(inputsDir, `big-image-${megabytes}-v2`);
  const summary = `${dir}.json`;
  if (existsSync(summary)) {
    return { dir, ...(JSON.parse(await readFile(summary, 'utf8')) as Omit<BigImage, 'dir'>) };
  }
  const work = `${dir}.tmp-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'blobs', 'sha256'), { recursive: true });
  const put = async (data: Buffer, mediaType: string) => {
    const digest = digestOf(data);
    await writeFile(join(work, 'blobs', 'sha256', digest.slice(7)), data);
    return { mediaType, digest, size: data.length };
  };
  const tar = randomTar(10, Math.round((megabytes * 1e6) / 10));
  const layer = await put(gzipSync(tar, { level: 1 }), 'application/vnd.oci.image.layer.v1.tar+gzip');
  const config = await put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/true'] },
        rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
      }),
    ),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config,
        layers: [layer],
      }),
    ),
    'application/vnd.oci.image.manifest.v1+json',
  );
  await writeFile(join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const top = { ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } };
  await writeFile(join(work, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [top] }));
  await rm(dir, { recursive: true, force: true });
  await rename(work, dir);
  const image = { layerBytes: layer.size, layerDigest: layer.digest };
  await writeFile(summary, JSON.stringify(image));
  return { dir, ...image };
}

/** Pushes the layout to `ref` (`HOST/REPO:TAG`, plain HTTP) with skopeo. */
export async function pushLayout(dir: string, ref: string, signal?: AbortSignal): Promise<void> {
  await runCommand(
    'skopeo',
    ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${dir}:latest`, `docker://${ref}`],
    signal ? { signal } : {},
  );
}
