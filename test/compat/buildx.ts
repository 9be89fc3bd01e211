import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BaseTrees, CorpusEntry } from '../dockerfile/corpus.js';
import type { CorpusEnvironment } from '../dockerfile/environment.js';
import { readImageConfigs } from '../dockerfile/image-configs.js';
import { type TreeDelta, listTree, treeDelta } from '../dockerfile/tree.js';

const run = promisify(execFile);

/** Docker's CLI (DOCKER or /usr/local/bin/docker, else `docker` on PATH). */
export function dockerPath(): string | undefined {
  const candidates = [
    process.env.DOCKER,
    '/usr/local/bin/docker',
    ...(process.env.PATH ?? '').split(':').map((dir) => join(dir, 'docker')),
  ];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

/** The buildx CLI plugin (BUILDX or ~/.docker/cli-plugins/docker-buildx). */
export function buildxPluginPath(): string | undefined {
  const candidates = [process.env.BUILDX, join(homedir(), '.docker', 'cli-plugins', 'docker-buildx')];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

export interface BuildxRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `docker buildx` with a private DOCKER_CONFIG (buildx keeps its builders there, so a test run
 * never sees or changes the user's), holding only the plugin. `dispose()` removes it.
 */
export interface BuildxHome {
  readonly dir: string;
  buildx(args: readonly string[]): Promise<BuildxRun>;
  dispose(): Promise<void>;
}

export async function buildxHome(opts: { docker: string; plugin: string }): Promise<BuildxHome> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-buildx-'));
  await mkdir(join(dir, 'cli-plugins'));
  await symlink(opts.plugin, join(dir, 'cli-plugins', 'docker-buildx'));
  // No git information from the checkout the corpus lives in: commits made while the suite runs
  // would change it between the builds compared.
  const env = { ...process.env, DOCKER_CONFIG: dir, BUILDX_GIT_INFO: 'false' };
  return {
    dir,
    buildx: (args) =>
      new Promise((resolve, reject) => {
        const child = spawn(opts.docker, ['buildx', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      }),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** `docker buildx create --driver remote ADDRESS` and a bootstrap; returns `inspect`'s output. */
export async function createRemoteBuilder(home: BuildxHome, name: string, address: string): Promise<string> {
  const created = await home.buildx(['create', '--name', name, '--driver', 'remote', address]);
  if (created.code !== 0) throw new Error(`buildx create ${name} failed:\n${created.stderr}`);
  const inspected = await home.buildx(['inspect', '--bootstrap', name]);
  if (inspected.code !== 0) throw new Error(`buildx inspect ${name} failed:\n${inspected.stderr}`);
  return inspected.stdout;
}

/**
 * The `docker buildx build` flags for a corpus entry's `build.json`, and the context directory.
 * Throws for what has no buildx flag (custom local names, subrequests, failing builds).
 */
export async function buildxFlags(
  entry: CorpusEntry,
  env: CorpusEnvironment,
  work: string,
): Promise<{ flags: string[]; context: string }> {
  const spec = entry.spec;
  if (spec.contextLocal || spec.dockerfileLocal || spec.subrequest || spec.fails) {
    throw new Error(`${entry.name}: build.json has no docker buildx equivalent`);
  }
  const expand = (v: string): string =>
    v
      .replaceAll('{{busybox}}', env.busybox)
      .replaceAll('{{onbuild}}', env.onbuild)
      .replaceAll('{{http}}', env.httpBase);
  const dockerfileDir = join(entry.dir, spec.dockerfileDir ?? '.');
  let filename = 'Dockerfile';
  const flags = [
    '--build-arg',
    `BUSYBOX=${env.busybox}`,
    '--build-arg',
    `ONBUILD=${env.onbuild}`,
    '--build-arg',
    `HTTP=${env.httpBase}`,
  ];
  for (const [key, raw] of Object.entries(spec.opts ?? {})) {
    const value = expand(raw);
    if (key.startsWith('build-arg:')) flags.push('--build-arg', `${key.slice(10)}=${value}`);
    else if (key.startsWith('label:')) flags.push('--label', `${key.slice(6)}=${value}`);
    else if (key.startsWith('context:')) {
      const local = value.startsWith('local:') ? spec.locals?.[value.slice(6)] : undefined;
      flags.push('--build-context', `${key.slice(8)}=${local ? join(entry.dir, local) : value}`);
    } else if (key === 'target') flags.push('--target', value);
    else if (key === 'platform') flags.push('--platform', value);
    else if (key === 'filename') filename = value;
    else if (key === 'no-cache') flags.push('--no-cache-filter', value);
    else if (key === 'multi-platform') flags.push('--build-arg', `BUILDKIT_MULTI_PLATFORM=${value}`);
    else if (key === 'force-network-mode') flags.push('--network', value);
    else if (key === 'shm-size') flags.push('--shm-size', value);
    else if (key === 'ulimit') flags.push('--ulimit', value);
    else if (key === 'image-resolve-mode' && value === 'pull') flags.push('--pull');
    else if (key === 'add-hosts') {
      for (const pair of value.split(',')) flags.push('--add-host', pair.replace('=', ':'));
    } else throw new Error(`${entry.name}: no docker buildx flag for --opt ${key}`);
  }
  flags.push('--file', join(dockerfileDir, filename));
  for (const [id, value] of Object.entries(spec.secrets ?? {})) {
    const file = join(work, `secret-${id}`);
    await mkdir(work, { recursive: true });
    await writeFile(file, value);
    flags.push('--secret', `id=${id},src=${file}`);
  }
  if (spec.ssh) flags.push('--ssh', `default=${env.sshSocket}`);
  if (spec.noCache) flags.push('--no-cache');
  return { flags, context: join(entry.dir, spec.contextDir ?? '.') };
}

function baseOf(tree: readonly string[], platform: string, bases: BaseTrees) {
  if (!tree.some((l) => l.startsWith('bin/busybox '))) return undefined;
  const arch = platform.includes('arm64') ? 'arm64' : 'amd64';
  return { name: `busybox-${arch}`, tree: bases[arch] };
}

/**
 * The trees of a `--output type=local` directory by platform, relative to the busybox bases as
 * the corpus fixtures record them: one directory per platform (`linux_arm64`) when `multi`.
 */
export async function localTrees(
  out: string,
  opts: { multi: boolean; platform: string; bases: BaseTrees },
): Promise<Record<string, TreeDelta>> {
  const trees: Record<string, TreeDelta> = {};
  const dirs = opts.multi
    ? (await readdir(out)).sort().map((sub) => [sub.replaceAll('_', '/'), join(out, sub)] as const)
    : [[opts.platform, out] as const];
  for (const [platform, dir] of dirs) {
    const tree = await listTree(dir);
    const base = baseOf(tree, platform, opts.bases);
    trees[platform] = treeDelta(tree, base?.tree, base?.name ?? '');
  }
  return trees;
}

/**
 * The image configs of a pushed image by platform, normalised as the corpus fixtures record
 * them, read back with skopeo (an independent client); attestation manifests are left out.
 */
export async function pushedConfigs(
  ref: string,
  opts: { work: string; hosts: ReadonlyMap<string, string> },
): Promise<Record<string, unknown>> {
  const archive = join(opts.work, 'pushed.tar');
  await mkdir(opts.work, { recursive: true });
  await rm(archive, { force: true });
  await run('skopeo', [
    '--insecure-policy',
    'copy',
    '--all',
    '--src-tls-verify=false',
    `docker://${ref}`,
    `oci-archive:${archive}`,
  ]);
  const configs = await readImageConfigs(archive, { keepTimes: false, hosts: opts.hosts });
  delete configs['unknown/unknown'];
  return configs;
}

interface Manifest {
  readonly mediaType?: string;
  readonly digest: string;
  readonly platform?: { architecture: string; os: string; variant?: string };
  readonly annotations?: Readonly<Record<string, string>>;
  readonly manifests?: readonly Manifest[];
  readonly layers?: readonly Manifest[];
}

async function registryGet(host: string, repo: string, path: string, accept?: string): Promise<Response> {
  const res = await fetch(`http://${host}/v2/${repo}/${path}`, accept ? { headers: { accept } } : {});
  if (!res.ok) throw new Error(`GET ${host}/v2/${repo}/${path}: ${res.status}`);
  return res;
}

/** What a pushed index shows of its manifests, and the provenance attestation's predicate. */
export interface PushedIndex {
  /** The digest of the index as the registry serves it. */
  readonly digest: string;
  readonly mediaType: string | undefined;
  /** `linux/amd64 application/vnd.oci.image.manifest.v1+json`, or `attestation-manifest for linux/amd64`. */
  readonly manifests: readonly string[];
  /** The in-toto statements of the attestation manifests, by the platform they are about. */
  readonly statements: Readonly<Record<string, Record<string, unknown>>>;
}

/** Reads the index `repo:tag` from a plain-HTTP registry, with its attestation layers. */
export async function pushedIndex(host: string, repo: string, tag: string): Promise<PushedIndex> {
  const accept = 'application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json';
  const bytes = Buffer.from(await (await registryGet(host, repo, `manifests/${tag}`, accept)).arrayBuffer());
  const index = JSON.parse(bytes.toString('utf8')) as Manifest;
  const platformOf = (m: Manifest | undefined): string =>
    m?.platform ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/') : '';
  const byDigest = new Map((index.manifests ?? []).map((m) => [m.digest, m]));
  const manifests: string[] = [];
  const statements: Record<string, Record<string, unknown>> = {};
  for (const m of index.manifests ?? []) {
    if (m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest') {
      manifests.push(`${platformOf(m)} ${m.mediaType}`);
      continue;
    }
    const about = platformOf(byDigest.get(m.annotations['vnd.docker.reference.digest'] ?? ''));
    manifests.push(`attestation-manifest for ${about}`);
    const attestation = (await (
      await registryGet(host, repo, `manifests/${m.digest}`, accept)
    ).json()) as Manifest;
    for (const layer of attestation.layers ?? []) {
      const blob = await registryGet(host, repo, `blobs/${layer.digest}`);
      statements[about] = (await blob.json()) as Record<string, unknown>;
    }
  }
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return { digest, mediaType: index.mediaType, manifests: manifests.sort(), statements };
}

async function tarMember(archive: string, member: string): Promise<Manifest> {
  const { stdout } = await run('tar', ['-xOf', archive, member], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as Manifest;
}

/**
 * What an `--output type=oci` tarball holds at the top: the media type index.json points at, and
 * for an index its entries (`linux/arm64 …manifest…`, `attestation-manifest`).
 */
export async function ociTarballShape(archive: string): Promise<{ top: string; entries: string[] }> {
  const index = await tarMember(archive, 'index.json');
  const top = index.manifests?.[0];
  if (!top) throw new Error(`${archive}: index.json names no image`);
  if (top.mediaType !== 'application/vnd.oci.image.index.v1+json')
    return { top: top.mediaType ?? '', entries: [] };
  const inner = await tarMember(archive, `blobs/${top.digest.replace(':', '/')}`);
  const entries = (inner.manifests ?? []).map((m) =>
    m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
      ? 'attestation-manifest'
      : `${[m.platform?.os, m.platform?.architecture, m.platform?.variant].filter(Boolean).join('/')} ${m.mediaType}`,
  );
  return { top: top.mediaType, entries: entries.sort() };
}
