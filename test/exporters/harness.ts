import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { copyStream, LocalContentStore } from '../../content/index.js';
import { Exporters } from '../../exporters/index.js';
import { digestHex, type Digest, type ImageConfig } from '../../oci/index.js';
import { RegistryClient } from '../../registry/index.js';
import { SessionManager } from '../../session/index.js';
import { createSnapshotter, unpack, type LocalSnapshotter } from '../../snapshotter/index.js';
import { Job, SnapshotAccess, type BuildResult, type ResultRef } from '../../solver/index.js';
import { busyboxLayout, type BusyboxLayout } from '../fixtures/busybox-image.js';
import type { BusyboxArch } from '../fixtures/busybox.js';
import type { TestRegistry } from '../fixtures/registry.js';

export const run = promisify(execFile);

/** A daemon-like setup: content store, snapshotter, busybox unpacked per arch, and the exporters. */
export interface World {
  readonly dir: string;
  readonly content: LocalContentStore;
  readonly snapshotter: LocalSnapshotter;
  readonly exporters: Exporters;
  readonly layout: BusyboxLayout;
  /** Committed snapshot holding busybox for each arch (unpacked as the image source op does). */
  readonly base: Readonly<Record<BusyboxArch, string>>;
  /** Commits a snapshot on `parent` with `files` (path → content), all mtimes set to `mtime` seconds. */
  addLayer(parent: string, files: Record<string, string>, mtime?: number): Promise<string>;
  close(): Promise<void>;
}

let counter = 0;

export async function world(): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-exporters-'));
  const db = new Database(join(dir, 'kiln.db'));
  db.pragma('journal_mode = WAL');
  const content = await LocalContentStore.open({ root: join(dir, 'content'), db });
  const snapshotter = await createSnapshotter({ kind: 'auto', root: join(dir, 'snapshots'), db });
  const registry = new RegistryClient({});
  const sessions = new SessionManager();
  const layout = await busyboxLayout();
  const base = {} as Record<BusyboxArch, string>;
  for (const arch of ['amd64', 'arm64'] as const) {
    const image = layout.images[arch];
    for (const blob of [image.manifest, image.config, image.layer]) {
      await copyStream(
        content,
        createReadStream(join(layout.dir, 'blobs', 'sha256', digestHex(blob.digest))),
        {
          ref: `fixture-${blob.digest}`,
          expected: blob.digest,
          total: blob.size,
        },
      );
    }
    const unpacked = await unpack({ snapshotter, content, layers: [image.layer], diffIds: [image.diffId] });
    base[arch] = unpacked.key;
  }
  const exporters = new Exporters({
    sessions,
    access: new SnapshotAccess(snapshotter),
    snapshotter,
    content,
    registries: { forSessions: () => registry },
    defaultPlatform: { os: 'linux', architecture: 'amd64' },
  });
  return {
    dir,
    content,
    snapshotter,
    exporters,
    layout,
    base,
    async addLayer(parent, files, mtime = 1_800_000_000) {
      const key = `test-active-${process.pid}-${counter++}`;
      await snapshotter.prepare(key, parent);
      const { dir: upper } = await snapshotter.writableLayer(key);
      for (const [path, text] of Object.entries(files)) {
        const target = join(upper, path);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, text);
        await utimes(target, mtime, mtime);
      }
      const name = `test-committed-${process.pid}-${counter++}`;
      await snapshotter.commit(name, key);
      return name;
    },
    async close() {
      await registry.close();
      sessions.close();
      await snapshotter.close();
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A job as the controller makes one (no session: image exports that do not need one). */
export function job(frontendAttrs: Record<string, string> = {}): Job {
  return new Job({
    ref: `test${counter++}`,
    sessionId: '',
    frontend: frontendAttrs['frontend'] ?? '',
    frontendAttrs,
    exporters: [],
    cacheExports: [],
    cacheImports: [],
    entitlements: new Set(),
  });
}

/** The image config a Dockerfile frontend would return for `FROM busybox` + `COPY` + `CMD`. */
export function frontendConfig(
  arch: BusyboxArch,
  cmd: string[],
  extra: Partial<ImageConfig['config']> = {},
): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      ...(arch === 'arm64' ? { variant: 'v8' } : {}),
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hi'],
        Cmd: cmd,
        Labels: { 'org.kiln.test': 'yes' },
        ...extra,
      },
      rootfs: { type: 'layers', diff_ids: [] },
      history: [
        { created: '1970-01-01T00:00:00Z', created_by: 'kiln test fixture: busybox-static' },
        {
          created: '2026-01-01T00:00:00Z',
          created_by: 'COPY hello.txt / # buildkit',
          comment: 'buildkit.dockerfile.v0',
        },
        {
          created: '2026-01-01T00:00:00Z',
          created_by: 'CMD ["cat" "/hello.txt"]',
          comment: 'buildkit.dockerfile.v0',
          empty_layer: true,
        },
      ],
    }),
  );
}

/** Cache keys of the refs (exporters do not read them; cache exporters do) and no known sources. */
const noKeys = { keys: new Map<string, string>(), sources: new Map() };

export function singleResult(ref: ResultRef, config: Uint8Array): BuildResult {
  return { ref, metadata: new Map([['containerimage.config', config]]), ...noKeys };
}

export function multiResult(entries: Array<{ id: string; ref: ResultRef; config: Uint8Array }>): BuildResult {
  const platforms = entries.map(({ id }) => {
    const [os, architecture, variant] = id.split('/');
    return { ID: id, Platform: { architecture, os, ...(variant ? { variant } : {}) } };
  });
  return {
    refs: new Map(entries.map((e) => [e.id, e.ref])),
    metadata: new Map<string, Uint8Array>([
      ['refs.platforms', Buffer.from(JSON.stringify({ Platforms: platforms }))],
      ...entries.map((e): [string, Uint8Array] => [`containerimage.config/${e.id}`, e.config]),
    ]),
    ...noKeys,
  };
}

/** `skopeo inspect --raw` (or `--config --raw`) of a reference in the test registry. */
export async function inspectRaw(registry: TestRegistry, ref: string, config = false): Promise<Buffer> {
  const { stdout } = await run(
    'skopeo',
    [
      'inspect',
      '--tls-verify=false',
      ...(config ? ['--config'] : []),
      '--raw',
      `docker://${registry.host}/${ref}`,
    ],
    { encoding: 'buffer', maxBuffer: 64 << 20 },
  );
  return stdout;
}

/** Copies a pushed image into an OCI layout with skopeo and returns the layout directory. */
export async function copyToLayout(
  registry: TestRegistry,
  ref: string,
  into: string,
  extra: string[] = [],
): Promise<string> {
  const dest = join(into, `layout-${counter++}`);
  await run('skopeo', [
    '--insecure-policy',
    'copy',
    '--src-tls-verify=false',
    ...extra,
    `docker://${registry.host}/${ref}`,
    `oci:${dest}:img`,
  ]);
  return dest;
}

/** Reads a blob of an OCI layout. */
export function layoutBlob(layout: string, digest: Digest | string): Promise<Buffer> {
  return readFile(join(layout, 'blobs', 'sha256', digest.replace('sha256:', '')));
}

/** Extracts an OCI layout's (first) image (layers in order) and runs `args` under runc; returns stdout. */
export async function runImage(layout: string, args: string[], env: string[]): Promise<string> {
  const bundle = await mkdtemp(join(tmpdir(), 'kiln-exporters-runc-'));
  const id = `kiln-exporters-test-${process.pid}-${counter++}`;
  const state = join(bundle, 'state');
  try {
    // skopeo rewrote the manifest for the layout (OCI types): find it through index.json.
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    const manifest = JSON.parse((await layoutBlob(layout, index.manifests[0]!.digest)).toString()) as {
      layers: Array<{ digest: string; mediaType: string }>;
    };
    await mkdir(join(bundle, 'rootfs'));
    for (const layer of manifest.layers) {
      const z = layer.mediaType.endsWith('zstd') ? '--zstd' : layer.mediaType.endsWith('gzip') ? '-z' : '';
      await run('tar', [
        ...(z ? [z] : []),
        '-xf',
        join(layout, 'blobs', 'sha256', layer.digest.slice(7)),
        '-C',
        join(bundle, 'rootfs'),
      ]);
    }
    await run('runc', ['spec', '--bundle', bundle]);
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as {
      process: { terminal: boolean; args: string[]; env: string[] };
    };
    config.process.terminal = false;
    config.process.args = args;
    config.process.env = env;
    await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
    const { stdout } = await run('runc', ['--root', state, 'run', '--bundle', bundle, id], {
      timeout: 30_000,
    });
    return stdout;
  } finally {
    await run('runc', ['--root', state, 'delete', '--force', id]).catch(() => undefined);
    await rm(bundle, { recursive: true, force: true });
  }
}
