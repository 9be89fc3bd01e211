import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type Server as NetServer, createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pack } from 'tar-stream';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { type TestRegistry, startRegistry } from '../fixtures/registry.js';

const run = promisify(execFile);

/** Files the corpus's HTTP server serves (ADD <url>): path → content. */
export const httpFiles: Readonly<Record<string, string>> = {
  '/files/data.txt': 'remote data\n',
  '/files/script.sh': '#!/bin/sh\necho remote script\n',
};

/** The files of the git repository the HTTP server serves at `/git/repo.git` (branch `main`). */
export const gitFiles: Readonly<Record<string, string>> = {
  Dockerfile: 'ARG BUSYBOX\nFROM $BUSYBOX\nCOPY . /from-git/\n',
  'README.md': 'from a git context\n',
  'sub/file.txt': 'in a subdirectory\n',
};

/** The build context the HTTP server serves as a tarball at `/files/context.tar`. */
export const tarContextFiles: Readonly<Record<string, string>> = {
  Dockerfile: 'ARG BUSYBOX\nFROM $BUSYBOX\nCOPY . /from-tar/\n',
  'payload.txt': 'from a tarball context\n',
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

/** A bare repository with one commit of `gitFiles` on `main`. */
async function makeGitRepo(dir: string): Promise<void> {
  const work = join(dir, 'work');
  for (const [path, content] of Object.entries(gitFiles)) {
    await mkdir(join(work, path, '..'), { recursive: true });
    await writeFile(join(work, path), content);
  }
  const git = (args: string[], cwd: string) =>
    run('git', args, {
      cwd,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'kiln',
        GIT_AUTHOR_EMAIL: 'kiln@example.com',
        GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
        GIT_COMMITTER_NAME: 'kiln',
        GIT_COMMITTER_EMAIL: 'kiln@example.com',
        GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z',
      },
    });
  await git(['init', '-q', '-b', 'main'], work);
  await git(['add', '.'], work);
  await git(['commit', '-q', '-m', 'corpus'], work);
  await git(['clone', '-q', '--bare', work, join(dir, 'repo.git')], dir);
}

/**
 * Serves the repositories under `root` with git's smart HTTP protocol (`git http-backend` as a
 * CGI program), as real git hosts do, so shallow fetches work.
 */
function gitHttpBackend(root: string, req: IncomingMessage, res: ServerResponse): void {
  const [path = '', query = ''] = (req.url ?? '').slice('/git'.length).split('?');
  const child = spawn('git', ['http-backend'], {
    env: {
      ...process.env,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: path,
      QUERY_STRING: query,
      REQUEST_METHOD: req.method ?? 'GET',
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
      ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    res.write(head.subarray(end + 4));
  });
  child.on('close', () => res.end());
}

/** A plain tar of `files` (mode 0644, mtime 0, owner 0). */
async function tarOf(files: Readonly<Record<string, string>>): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => archive.on('end', () => resolve()));
  for (const [name, content] of Object.entries(files)) {
    archive.entry({ name, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, content);
  }
  archive.finalize();
  await done;
  return Buffer.concat(chunks);
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
  const served = new Map<string, string | Buffer>(Object.entries(httpFiles));
  const gitDir = join(dir, 'git');
  const http = createServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/git/')) {
      gitHttpBackend(gitDir, req, res);
      return;
    }
    const body = served.get(url);
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
    await mkdir(gitDir, { recursive: true });
    await makeGitRepo(gitDir);
    served.set('/files/context.tar', await tarOf(tarContextFiles));
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
