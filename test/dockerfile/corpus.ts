import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CorpusEnvironment } from './environment.js';
import { readImageConfigs, replaceHosts } from './image-configs.js';
import { type TreeDelta, listTree, treeDelta } from './tree.js';

/** Where the corpus lives in the source tree (tests run from dist-*, fixtures stay in the source). */
export const corpusRoot = new URL('../../../test/dockerfile/corpus/', import.meta.url).pathname;
export const fixturesRoot = new URL('../../../test/dockerfile/fixtures/', import.meta.url).pathname;

/** `build.json` of an entry: how to build it beyond `buildctl build` with its directory as both locals. */
export interface EntrySpec {
  /** Frontend options (`--opt k=v`). */
  readonly opts?: Readonly<Record<string, string>>;
  /** Secrets given with `--secret id=<id>` (the value is written to a temp file). */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Forward an SSH agent socket as `default`. */
  readonly ssh?: boolean;
  /** Extra locals: name → directory inside the entry. */
  readonly locals?: Readonly<Record<string, string>>;
  /** Directories inside the entry for the two standard locals (default: the entry itself). */
  readonly contextDir?: string;
  readonly dockerfileDir?: string;
  /** Local names for the context and Dockerfile (with `contextkey` / `dockerfilekey`). */
  readonly contextLocal?: string;
  readonly dockerfileLocal?: string;
  /** The build must fail; the Dockerfile lines buildctl prints are compared. */
  readonly fails?: boolean;
  /** `requestid` subrequest: stdout is compared instead of outputs. */
  readonly subrequest?: boolean;
  readonly noCache?: boolean;
  /** Keep `created` times in image configs (SOURCE_DATE_EPOCH builds). */
  readonly keepTimes?: boolean;
  /**
   * Options added only when recording with BuildKit, where it differs from kiln on purpose (e.g.
   * `cmdline` keeps BuildKit from fetching a `# syntax=` frontend, which kiln ignores).
   */
  readonly recordOpts?: Readonly<Record<string, string>>;
}

export interface CorpusEntry {
  readonly name: string;
  readonly dir: string;
  readonly spec: EntrySpec;
}

/** What a build of an entry produced, as recorded from BuildKit and compared for kiln. */
export interface EntryResult {
  readonly name: string;
  /** File trees by platform (`linux/amd64`), relative to the daemon's own busybox tree. */
  readonly trees?: Readonly<Record<string, TreeDelta>>;
  readonly configs?: Readonly<Record<string, unknown>>;
  readonly stdout?: string;
  /** For failing builds: the `Dockerfile:N` header and source lines buildctl printed. */
  readonly errorLines?: readonly string[];
}

export function loadCorpus(): CorpusEntry[] {
  return readdirSync(corpusRoot, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const dir = join(corpusRoot, name);
      const specPath = join(dir, 'build.json');
      const spec = existsSync(specPath) ? (JSON.parse(readFileSync(specPath, 'utf8')) as EntrySpec) : {};
      return { name, dir, spec };
    });
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function buildctl(path: string, address: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, ['--addr', address, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  });
}

/** The Dockerfile excerpt of buildctl's error output (`Dockerfile:3` and the numbered lines). */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /^\S+:\d+$/.test(l) || /^\s*\d+ \| /.test(l));
}

/** The trees of the base images themselves, to which entry trees are compared. */
export type BaseTrees = Readonly<Record<'amd64' | 'arm64', readonly string[]>>;

function baseOf(tree: readonly string[], platform: string, bases: BaseTrees | undefined) {
  if (!bases || !tree.some((l) => l.startsWith('bin/busybox '))) return undefined;
  const arch = platform.includes('arm64') ? 'arm64' : 'amd64';
  return { name: `busybox-${arch}`, tree: bases[arch] };
}

/**
 * Builds one entry through `address` with the real buildctl exactly as a user would: once to a
 * local directory (the file tree) and once to an OCI tarball (the image configs), or once for a
 * failing build or a subrequest. `bases` are the daemon's own busybox trees (undefined to list
 * trees in full).
 */
export async function buildEntry(opts: {
  buildctl: string;
  address: string;
  env: CorpusEnvironment;
  entry: CorpusEntry;
  work: string;
  bases?: BaseTrees;
  /** Building with BuildKit for the fixtures (adds `recordOpts`). */
  recording?: boolean;
}): Promise<EntryResult & { readonly log: string }> {
  const { env, entry, work } = opts;
  const spec = entry.spec;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const args = [
    'build',
    '--progress=plain',
    '--frontend',
    'dockerfile.v0',
    '--local',
    `${spec.contextLocal ?? 'context'}=${join(entry.dir, spec.contextDir ?? '.')}`,
    '--local',
    `${spec.dockerfileLocal ?? 'dockerfile'}=${join(entry.dir, spec.dockerfileDir ?? '.')}`,
    '--opt',
    `build-arg:BUSYBOX=${env.busybox}`,
    '--opt',
    `build-arg:ONBUILD=${env.onbuild}`,
    '--opt',
    `build-arg:HTTP=${env.httpBase}`,
  ];
  const expand = (v: string): string =>
    v
      .replaceAll('{{busybox}}', env.busybox)
      .replaceAll('{{onbuild}}', env.onbuild)
      .replaceAll('{{http}}', env.httpBase);
  const frontendOpts = { ...spec.opts, ...(opts.recording ? spec.recordOpts : {}) };
  for (const [k, v] of Object.entries(frontendOpts)) args.push('--opt', `${k}=${expand(v)}`);
  for (const [name, dir] of Object.entries(spec.locals ?? {}))
    args.push('--local', `${name}=${join(entry.dir, dir)}`);
  for (const [id, value] of Object.entries(spec.secrets ?? {})) {
    const file = join(work, `secret-${id}`);
    await writeFile(file, value);
    args.push('--secret', `id=${id},src=${file}`);
  }
  if (spec.ssh) args.push('--ssh', `default=${env.sshSocket}`);
  if (spec.noCache) args.push('--no-cache');

  if (spec.subrequest) {
    const r = await buildctl(opts.buildctl, opts.address, args);
    if (r.code !== 0) throw new Error(`${entry.name}: subrequest failed:\n${r.stderr}`);
    return { name: entry.name, stdout: replaceHosts(r.stdout, env.hosts), log: r.stderr };
  }
  const out = join(work, 'out');
  const local = await buildctl(opts.buildctl, opts.address, [...args, '--output', `type=local,dest=${out}`]);
  if (spec.fails) {
    if (local.code === 0) throw new Error(`${entry.name}: the build should have failed`);
    return {
      name: entry.name,
      errorLines: errorLines(replaceHosts(local.stderr, env.hosts)),
      log: local.stderr,
    };
  }
  if (local.code !== 0) throw new Error(`${entry.name}: build failed:\n${local.stderr}`);
  const tarball = join(work, 'image.tar');
  const oci = await buildctl(opts.buildctl, opts.address, [...args, '--output', `type=oci,dest=${tarball}`]);
  if (oci.code !== 0) throw new Error(`${entry.name}: OCI export failed:\n${oci.stderr}`);

  const trees: Record<string, TreeDelta> = {};
  const platforms = (spec.opts?.platform ?? '').split(',').filter(Boolean);
  // More than one platform, or multi-platform asked for: the local exporter writes a directory per platform.
  if (platforms.length > 1 || spec.opts?.['multi-platform'] === 'true') {
    for (const sub of (await readdir(out)).sort()) {
      const tree = await listTree(join(out, sub));
      const platform = sub.replaceAll('_', '/');
      const base = baseOf(tree, platform, opts.bases);
      trees[platform] = treeDelta(tree, base?.tree, base?.name ?? '');
    }
  } else {
    const tree = await listTree(out);
    const platform = platforms[0] ?? 'linux/amd64';
    const base = baseOf(tree, platform, opts.bases);
    trees[platform] = treeDelta(tree, base?.tree, base?.name ?? '');
  }
  const configs = await readImageConfigs(tarball, { keepTimes: spec.keepTimes === true, hosts: env.hosts });
  return { name: entry.name, trees, configs, log: `${local.stderr}\n${oci.stderr}` };
}

/** The daemon's busybox trees: `FROM busybox` exported for each architecture. */
export async function baseTrees(opts: {
  buildctl: string;
  address: string;
  env: CorpusEnvironment;
  work: string;
}): Promise<BaseTrees> {
  const dir = join(opts.work, 'base-context');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), 'ARG BUSYBOX\nFROM $BUSYBOX\n');
  const trees = {} as Record<'amd64' | 'arm64', string[]>;
  for (const arch of ['amd64', 'arm64'] as const) {
    const out = join(opts.work, `base-${arch}`);
    await rm(out, { recursive: true, force: true });
    const r = await buildctl(opts.buildctl, opts.address, [
      'build',
      '--frontend',
      'dockerfile.v0',
      '--local',
      `context=${dir}`,
      '--local',
      `dockerfile=${dir}`,
      '--opt',
      `build-arg:BUSYBOX=${opts.env.busybox}`,
      '--opt',
      `platform=linux/${arch}`,
      '--output',
      `type=local,dest=${out}`,
    ]);
    if (r.code !== 0) throw new Error(`busybox base (${arch}) failed:\n${r.stderr}`);
    trees[arch] = await listTree(out);
  }
  return trees;
}
