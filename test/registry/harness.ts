import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { LocalContentStore } from '../../content/index.js';
import type { Digest } from '../../oci/index.js';
import type { CredentialProvider } from '../../registry/index.js';
import type { TestRegistry } from '../fixtures/registry.js';

const run = promisify(execFile);

export interface TempStore {
  readonly dir: string;
  readonly db: Database.Database;
  readonly store: LocalContentStore;
  /** Files left in the store's ingest directory (should be none when no write is running). */
  ingestDebris(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export async function tempStore(): Promise<TempStore> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-registry-test-'));
  const db = new Database(join(dir, 'kiln.db'));
  db.pragma('journal_mode = WAL');
  const store = await LocalContentStore.open({ root: join(dir, 'content'), db });
  return {
    dir,
    db,
    store,
    ingestDebris: () => readdir(join(dir, 'content', 'ingest')),
    cleanup: async () => {
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The registry's test user as a credential provider (undefined for registries without auth). */
export function credentialsFor(
  registry: TestRegistry,
  password = registry.password,
): CredentialProvider | undefined {
  if (!registry.username) return undefined;
  return async (host) =>
    host === registry.host ? { username: registry.username!, secret: password! } : undefined;
}

/**
 * Extracts a gzip layer with `tar -xzf` into a fresh root and runs `/bin/sh -c 'uname -m'` in it
 * under `runc run` (foreign architectures through QEMU's binfmt_misc handler); returns stdout.
 */
export async function unameInLayer(store: LocalContentStore, layer: Digest): Promise<string> {
  const bundle = await mkdtemp(join(tmpdir(), 'kiln-runc-'));
  const id = `kiln-registry-test-${randomBytes(4).toString('hex')}`;
  const state = join(bundle, 'state');
  try {
    await mkdir(join(bundle, 'rootfs'));
    await run('tar', ['-xzf', store.blobPath(layer), '-C', join(bundle, 'rootfs')]);
    await run('runc', ['spec', '--bundle', bundle]);
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
      process: { terminal: boolean; args: string[] };
    };
    config.process.terminal = false;
    config.process.args = ['/bin/sh', '-c', 'uname -m'];
    await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
    const { stdout } = await run('runc', ['--root', state, 'run', '--bundle', bundle, id], {
      timeout: 30_000,
    });
    return stdout.trim();
  } finally {
    await run('runc', ['--root', state, 'delete', '--force', id]).catch(() => undefined);
    await rm(bundle, { recursive: true, force: true });
  }
}

/** `skopeo inspect --raw` of a reference: the exact manifest or index bytes the registry serves. */
export async function skopeoInspectRaw(registry: TestRegistry, ref: string): Promise<Buffer> {
  const creds = registry.username ? [`--creds=${registry.username}:${registry.password}`] : [];
  const { stdout } = await run(
    'skopeo',
    ['--insecure-policy', 'inspect', '--raw', '--tls-verify=false', ...creds, `docker://${ref}`],
    { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

/** `skopeo copy --all` of a reference into an OCI layout directory. */
export async function skopeoCopyToLayout(registry: TestRegistry, ref: string, dir: string): Promise<void> {
  const creds = registry.username ? [`--src-creds=${registry.username}:${registry.password}`] : [];
  await run('skopeo', [
    '--insecure-policy',
    'copy',
    '--all',
    '--preserve-digests',
    '--src-tls-verify=false',
    ...creds,
    `docker://${ref}`,
    `oci:${dir}:copied`,
  ]);
}

/** Requests in the registry's access log matching `pattern`, after the log settled. */
export async function logged(registry: TestRegistry, pattern: RegExp): Promise<string[]> {
  await registry.settle();
  return registry.requestLog().filter((line) => pattern.test(line));
}
