import { execFile } from 'node:child_process';
import { readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { ImageConfig, ImageManifest } from '../../oci/index.js';
import { runProcess, type ProcessResult } from './processes.js';

const run = promisify(execFile);

export interface PulledImage {
  readonly manifest: ImageManifest;
  readonly config: ImageConfig;
  /** The unpacked root filesystem. */
  readonly rootfs: string;
}

async function blob(layout: string, digest: string): Promise<string> {
  return join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

/**
 * Copies `ref` (an image on a plain-HTTP test registry) into an OCI layout with skopeo and unpacks
 * its layers in order under `dir`/rootfs, applying whiteouts and opaque directories as a container
 * runtime would.
 */
export async function pullAndUnpack(ref: string, dir: string): Promise<PulledImage> {
  const layout = join(dir, 'layout');
  await mkdir(dir, { recursive: true });
  await run(
    'skopeo',
    ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:img`],
    {
      maxBuffer: 16 << 20,
    },
  );
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  const manifest = JSON.parse(
    await readFile(await blob(layout, index.manifests[0]!.digest), 'utf8'),
  ) as ImageManifest;
  const config = JSON.parse(
    await readFile(await blob(layout, manifest.config.digest), 'utf8'),
  ) as ImageConfig;
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs, { recursive: true });
  for (const layer of manifest.layers) {
    const file = await blob(layout, layer.digest);
    const { stdout } = await run('tar', ['-tzf', file], { maxBuffer: 256 << 20 });
    for (const entry of stdout.split('\n')) {
      const name = basename(entry);
      if (!name.startsWith('.wh.')) continue;
      const parent = join(rootfs, dirname(entry));
      if (name === '.wh..wh..opq') {
        for (const child of await readdir(parent).catch(() => []))
          await rm(join(parent, child), { recursive: true, force: true });
      } else await rm(join(parent, name.slice(4)), { recursive: true, force: true });
    }
    await run('tar', ['-xzf', file, '-C', rootfs, '--numeric-owner', '--exclude=.wh.*'], {
      maxBuffer: 16 << 20,
    });
  }
  return { manifest, config, rootfs };
}

/**
 * Runs `args` in a runc container on `rootfs` with the image's environment (default spec: new
 * namespaces, no network, default capabilities) and resolves with its output.
 */
export async function runInRootfs(
  rootfs: string,
  bundle: string,
  args: readonly string[],
  env: readonly string[],
): Promise<ProcessResult> {
  await mkdir(bundle, { recursive: true });
  await rm(join(bundle, 'config.json'), { force: true });
  await run('runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
    process: { args: string[]; env: string[]; terminal: boolean; cwd: string };
    root: { path: string; readonly: boolean };
  };
  spec.process.args = [...args];
  spec.process.env = [...env];
  spec.process.terminal = false;
  spec.root = { path: rootfs, readonly: true };
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  const id = `kiln-image-test-${process.pid}-${Date.now()}`;
  try {
    return await runProcess('runc', ['run', '--bundle', bundle, id], { timeoutMs: 60_000 });
  } finally {
    await runProcess('runc', ['delete', '--force', id]).catch(() => undefined);
  }
}
