import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { type Server as NetServer, createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { type TestRegistry, startRegistry } from '../fixtures/registry.js';

const run = promisify(execFile);

/** Files the corpus's HTTP server serves (ADD <url>): path → content. */
export const httpFiles: Readonly<Record<string, string>> = {
  '/files/data.txt': 'remote data\n',
  '/files/script.sh': '#!/bin/sh\necho remote script\n',
};

/** The ONBUILD triggers of the `onbuild` base image the corpus uses. */
export const onbuildTriggers = ['RUN echo triggered > /onbuild.txt', 'ENV FROM_ONBUILD=yes'];

/**
 * What the corpus builds need besides a daemon: a registry holding the multi-arch busybox
 * (`<host>/library/busybox`) and an amd64 busybox with ONBUILD triggers (`<host>/library/onbuild`),
 * an HTTP server for ADD of URLs, and a unix socket standing in for an SSH agent.
 */
export interface CorpusEnvironment {
  readonly registry: TestRegistry;
  readonly busybox: string;
  readonly onbuild: string;
  /** `http://127.0.0.1:PORT` */
  readonly httpBase: string;
  readonly sshSocket: string;
  readonly dir: string;
  /** Host strings to replace in recorded output, with their stable names. */
  readonly hosts: ReadonlyMap<string, string>;
  stop(): Promise<void>;
}

function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Pushes busybox (amd64) with ONBUILD triggers added to its config, built as an OCI layout. */
async function pushOnbuild(registry: TestRegistry, busyboxLayoutDir: string, work: string): Promise<string> {
  const layout = JSON.parse(await readFile(join(busyboxLayoutDir, 'kiln-fixture.json'), 'utf8')) as {
    images: {
      amd64: { config: { digest: string }; layer: { digest: string; size: number; mediaType: string } };
    };
  };
  const amd64 = layout.images.amd64;
  const blobs = join(work, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const blobPath = (dir: string, digest: string): string => join(dir, 'blobs', 'sha256', digest.slice(7));
  await copyFile(blobPath(busyboxLayoutDir, amd64.layer.digest), blobPath(work, amd64.layer.digest));
  const config = JSON.parse(await readFile(blobPath(busyboxLayoutDir, amd64.config.digest), 'utf8')) as {
    config: Record<string, unknown>;
  };
  config.config.OnBuild = onbuildTriggers;
  const put = async (data: Buffer, mediaType: string) => {
    const digest = digestOf(data);
    await writeFile(blobPath(work, digest), data);
    return { mediaType, digest, size: data.length };
  };
  const configDesc = await put(
    Buffer.from(JSON.stringify(config)),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: configDesc,
        layers: [amd64.layer],
      }),
    ),
    'application/vnd.oci.image.manifest.v1+json',
  );
  await writeFile(join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(work, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }),
  );
  const ref = `${registry.host}/library/onbuild:latest`;
  await run('skopeo', [
    '--insecure-policy',
    'copy',
    '--preserve-digests',
    '--dest-tls-verify=false',
    `oci:${work}:latest`,
    `docker://${ref}`,
  ]);
  return `${registry.host}/library/onbuild`;
}

async function listen(server: Server | NetServer, where: number | string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof where === 'number') server.listen(where, '127.0.0.1', resolve);
    else server.listen(where, resolve);
  });
}

/** Starts everything the corpus needs; `stop()` tears it down (also after a failure). */
export async function startCorpusEnvironment(): Promise<CorpusEnvironment> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-dfcorpus-'));
  const registry = await startRegistry({ auth: 'none' });
  const http = createServer((req, res) => {
    const body = httpFiles[req.url ?? ''];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT',
    });
    res.end(body);
  });
  const ssh = createNetServer((socket) => socket.end());
  const sshSocket = join(dir, 'ssh-agent.sock');
  try {
    const pushed = await pushBusyboxIndex(registry);
    const onbuild = await pushOnbuild(registry, pushed.layout.dir, join(dir, 'onbuild-layout'));
    await listen(http, 0);
    await listen(ssh, sshSocket);
    const httpBase = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    return {
      registry,
      busybox: `${registry.host}/library/busybox`,
      onbuild,
      httpBase,
      sshSocket,
      dir,
      hosts: new Map([
        [registry.host, 'REGISTRY'],
        [httpBase.slice('http://'.length), 'HTTPSERVER'],
      ]),
      stop: async () => {
        http.close();
        ssh.close();
        await registry.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    http.close();
    ssh.close();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
