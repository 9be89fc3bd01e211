import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type BaseTrees,
  type CorpusEntry,
  type EntryResult,
  fixturesRoot,
  loadCorpus,
} from '../dockerfile/corpus.js';
import { type CorpusEnvironment, startCorpusEnvironment } from '../dockerfile/environment.js';
import { buildInfoKey, replaceHosts } from '../dockerfile/image-configs.js';
import { type KilndProcess, startKilnd } from '../fixtures/kilnd.js';
import { type BuildkitdProcess, buildkitdPath, startBuildkitd } from '../gateway/buildkitd.js';
import {
  type BuildxHome,
  buildxFlags,
  buildxHome,
  buildxPluginPath,
  createRemoteBuilder,
  dockerPath,
  localTrees,
  ociTarballShape,
  pushedConfigs,
  pushedIndex,
} from './buildx.js';

// Issue 11: `docker buildx` with the remote driver pointed at kilnd's socket builds the corpus
// Dockerfiles with `--output type=local`, `--push` and `--platform linux/amd64,linux/arm64`
// exactly as it does against buildkitd. Results are compared with what BuildKit v0.11.6 produced
// through buildctl (test/dockerfile/fixtures); with a real buildkitd (BUILDKITD or
// /tmp/bk/buildkitd) every build also runs there through a second remote builder, and the two
// daemons' results must be equal: trees, pushed configs and indexes, the provenance buildx asks
// for by default, `--output type=oci` tarballs and what `--metadata-file` shows. Build with
// docker/buildx v0.10.5 (`go build ./cmd/buildx`) and install it as a CLI plugin to run it.
const docker = dockerPath();
const plugin = buildxPluginPath();
const skip = !plugin
  ? 'no docker buildx plugin (set BUILDX or install ~/.docker/cli-plugins/docker-buildx)'
  : !docker && 'no docker CLI (set DOCKER)';

/** Multi-stage, ARG, COPY --from, RUN mounts, named contexts, -f, --target, --platform. */
const localEntries = [
  'arg-build-arg',
  'arg-meta-from',
  'arg-scope',
  'copy-chown',
  'copy-dockerignore',
  'copy-from-stage',
  'dockerfile-in-subdir',
  'from-stage-chain',
  'multistage-parallel',
  'multistage-target',
  'named-context-local',
  'platform-buildplatform',
  'platform-multi',
  'run-heredoc',
  'run-mount-bind-stage',
  'run-mount-cache',
  'run-mount-secret',
];
const pushEntries = ['copy-from-stage', 'label-option', 'arg-build-arg', 'platform-multi'];

const corpus = new Map(loadCorpus().map((e) => [e.name, e]));
const bases = JSON.parse(readFileSync(join(fixturesRoot, '_bases.json'), 'utf8')) as BaseTrees;

function entry(name: string): CorpusEntry {
  const found = corpus.get(name);
  if (!found) throw new Error(`no corpus entry ${name}`);
  return found;
}

function fixture(name: string): EntryResult {
  return JSON.parse(readFileSync(join(fixturesRoot, `${name}.json`), 'utf8')) as EntryResult;
}

/** Configs without BuildKit v0.11.6's `moby.buildkit.buildinfo.v1` (see corpus.test.ts). */
function withoutBuildInfo(configs: Readonly<Record<string, unknown>> | undefined) {
  return Object.fromEntries(
    Object.entries(configs ?? {}).map(([platform, config]) => {
      const { [buildInfoKey]: _info, ...rest } = config as Record<string, unknown>;
      return [platform, rest];
    }),
  );
}

interface Daemon {
  readonly name: 'kilnd' | 'buildkitd';
  logs(): string;
}

interface Statement {
  _type: string;
  predicateType: string;
  subject: { name: string }[];
  predicate: {
    builder: unknown;
    buildType: string;
    materials?: unknown;
    invocation: { parameters: { locals?: unknown } & Record<string, unknown> } & Record<string, unknown>;
    metadata: { completeness: unknown; reproducible: unknown };
  };
}

/** A statement with registry hosts (also URL-escaped in package URLs) and the tag made stable. */
function stableStatement(statement: Record<string, unknown>, hosts: ReadonlyMap<string, string>): Statement {
  const escaped = new Map([...hosts].map(([host, name]) => [encodeURIComponent(host), name]));
  const text = replaceHosts(replaceHosts(JSON.stringify(statement), hosts), escaped);
  return JSON.parse(text.replace(/@(kilnd|buildkitd)\?/g, '@TAG?')) as Statement;
}

/** The parts of a provenance statement that do not change from build to build. */
function provenanceShape(s: Statement) {
  const { locals: _locals, ...parameters } = s.predicate.invocation.parameters;
  return {
    _type: s._type,
    predicateType: s.predicateType,
    subjects: s.subject.map((x) => x.name),
    builder: s.predicate.builder,
    buildType: s.predicate.buildType,
    invocation: { ...s.predicate.invocation, parameters },
    completeness: s.predicate.metadata.completeness,
    reproducible: s.predicate.metadata.reproducible,
  };
}

/**
 * buildx's `--metadata-file` (the exporter response): its keys, and the build info entries
 * (`containerimage.buildinfo`, per platform for multi-platform builds) apart from their sources.
 */
function buildxMetadata(file: string, hosts: ReadonlyMap<string, string>) {
  const metadata = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const stable = (value: unknown): unknown => JSON.parse(replaceHosts(JSON.stringify(value ?? null), hosts));
  const buildInfo: Record<string, unknown> = {};
  const sources: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (!key.startsWith('containerimage.buildinfo')) continue;
    const { sources: used, ...rest } = value as { frontend?: string; sources?: unknown };
    assert.equal(rest.frontend, 'dockerfile.v0', `${key} names the frontend`);
    buildInfo[key] = stable(rest);
    sources[key] = stable(used);
  }
  return { metadata, keys: Object.keys(metadata).sort(), buildInfo, sources };
}

describe('docker buildx with the remote driver on kilnd (issue 11)', { skip }, () => {
  let env: CorpusEnvironment;
  let kilnd: KilndProcess;
  let buildkitd: BuildkitdProcess | undefined;
  let home: BuildxHome;
  const daemons: Daemon[] = [];
  const inspected = new Map<string, string>();
  /** Provenance materials and locals and build info sources of each push, by `entry on daemon`. */
  const recordedSources = new Map<string, unknown>();

  before(async () => {
    env = await startCorpusEnvironment();
    home = await buildxHome({ docker: docker!, plugin: plugin! });
    kilnd = await startKilnd();
    daemons.push({ name: 'kilnd', logs: () => kilnd.logs() });
    inspected.set('kilnd', await createRemoteBuilder(home, 'kilnd', kilnd.address));
    if (buildkitdPath()) {
      buildkitd = await startBuildkitd({ registries: [env.registry.host] });
      daemons.push({ name: 'buildkitd', logs: () => buildkitd!.logs() });
      inspected.set('buildkitd', await createRemoteBuilder(home, 'buildkitd', buildkitd.address));
    }
  });

  after(async () => {
    await kilnd?.dispose();
    await buildkitd?.stop();
    await home?.dispose();
    await env?.stop();
  });

  /** `docker buildx build` of a corpus entry on one daemon's builder; throws with the logs. */
  async function build(
    daemon: Daemon,
    name: string,
    output: string[],
    extra: string[] = [],
  ): Promise<string> {
    const work = join(env.dir, 'buildx', daemon.name, name);
    await mkdir(work, { recursive: true });
    const { flags, context } = await buildxFlags(entry(name), env, work);
    const args = [
      'build',
      '--builder',
      daemon.name,
      '--progress=plain',
      ...flags,
      ...extra,
      ...output,
      context,
    ];
    const r = await home.buildx(args);
    if (r.code !== 0) {
      throw new Error(
        `docker buildx ${args.join(' ')} on ${daemon.name} failed (${r.code}):\n${r.stderr.slice(-6000)}` +
          `\n--- ${daemon.name} log tail ---\n${daemon.logs().slice(-4000)}`,
      );
    }
    return work;
  }

  /** Runs `fn` on every daemon; with buildkitd present, kilnd's result must equal its result. */
  async function onEveryDaemon<T>(fn: (daemon: Daemon) => Promise<T>): Promise<T> {
    const results = new Map<string, T>();
    for (const daemon of daemons) results.set(daemon.name, await fn(daemon));
    if (results.has('buildkitd')) {
      assert.deepEqual(results.get('kilnd'), results.get('buildkitd'), 'kilnd differs from buildkitd');
    }
    return results.get('kilnd')!;
  }

  it('bootstraps a remote builder on the daemon socket, running, with amd64 and arm64', () => {
    for (const daemon of daemons) {
      const out = inspected.get(daemon.name) ?? '';
      assert.match(out, /Driver:\s+remote/, out);
      assert.match(out, /Status:\s+running/, out);
      const platforms = /Platforms:\s+(.*)/.exec(out)?.[1]?.split(', ') ?? [];
      assert.ok(platforms.includes('linux/amd64') && platforms.includes('linux/arm64'), out);
    }
  });

  for (const name of localEntries) {
    it(`${name}: --output type=local`, async () => {
      const expected = fixture(name);
      const platform = entry(name).spec.opts?.platform ?? 'linux/amd64';
      await onEveryDaemon(async (daemon) => {
        const out = join(env.dir, 'buildx', daemon.name, name, 'out');
        const metadataFile = join(env.dir, 'buildx', daemon.name, name, 'metadata.json');
        await build(daemon, name, ['--output', `type=local,dest=${out}`, '--metadata-file', metadataFile]);
        const trees = await localTrees(out, { multi: platform.includes(','), platform, bases });
        assert.deepEqual(trees, expected.trees, `file tree of ${name} built on ${daemon.name}`);
        const { keys, buildInfo } = buildxMetadata(metadataFile, env.hosts);
        return { trees, metadata: keys, buildInfo };
      });
    });
  }

  it('--platform linux/amd64,linux/arm64 runs each platform natively or under QEMU (uname -m)', async () => {
    await onEveryDaemon(async (daemon) => {
      const out = join(env.dir, 'buildx', daemon.name, 'uname', 'out');
      await build(daemon, 'platform-multi', ['--output', `type=local,dest=${out}`]);
      const arch = (p: string) => readFileSync(join(out, p, 'arch.txt'), 'utf8');
      const target = (p: string) => readFileSync(join(out, p, 'target.txt'), 'utf8');
      const seen = {
        amd64: [arch('linux_amd64'), target('linux_amd64')],
        arm64: [arch('linux_arm64'), target('linux_arm64')],
      };
      assert.deepEqual(seen, { amd64: ['x86_64\n', 'linux/amd64\n'], arm64: ['aarch64\n', 'linux/arm64\n'] });
      return seen;
    });
  });

  for (const name of ['copy-from-stage', 'platform-multi']) {
    it(`${name}: --output type=oci (buildx's inline-only provenance)`, async () => {
      const multi = (entry(name).spec.opts?.platform ?? '').includes(',');
      await onEveryDaemon(async (daemon) => {
        const dest = join(env.dir, 'buildx', daemon.name, name, 'image.tar');
        const metadataFile = join(env.dir, 'buildx', daemon.name, name, 'oci-metadata.json');
        await build(daemon, name, ['--output', `type=oci,dest=${dest}`, '--metadata-file', metadataFile]);
        const shape = await ociTarballShape(dest);
        // A single-platform tarball leaves the inline-only attestation out; an index keeps it.
        assert.equal(
          shape.top,
          multi ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json',
          `${name} on ${daemon.name}: ${JSON.stringify(shape)}`,
        );
        const { keys, buildInfo } = buildxMetadata(metadataFile, env.hosts);
        return { shape, metadata: keys, buildInfo };
      });
    });
  }

  for (const name of pushEntries) {
    it(`${name}: --push`, async () => {
      const expected = fixture(name);
      const repo = `buildx/${name}`;
      await onEveryDaemon(async (daemon) => {
        const ref = `${env.registry.host}/${repo}:${daemon.name}`;
        const metadataFile = join(env.dir, 'buildx', daemon.name, name, 'metadata.json');
        const work = await build(daemon, name, ['--tag', ref, '--push', '--metadata-file', metadataFile]);
        const configs = await pushedConfigs(ref, { work, hosts: env.hosts });
        assert.deepEqual(
          withoutBuildInfo(configs),
          withoutBuildInfo(expected.configs),
          `pushed configs of ${name} on ${daemon.name}`,
        );
        const index = await pushedIndex(env.registry.host, repo, daemon.name);
        const platforms = Object.keys(expected.configs ?? {}).sort();
        // buildx asks for a minimal provenance attestation by default (BuildKit ≥ 0.11 builders).
        assert.deepEqual(
          index.manifests,
          [
            ...platforms.map((p) => `${p} application/vnd.oci.image.manifest.v1+json`),
            ...platforms.map((p) => `attestation-manifest for ${p}`),
          ].sort(),
        );
        const { metadata, keys, buildInfo, sources } = buildxMetadata(metadataFile, env.hosts);
        assert.equal(metadata['containerimage.digest'], index.digest);
        assert.equal(metadata['image.name'], ref);
        const statements = Object.entries(index.statements).map(
          ([p, s]) => [p, stableStatement(s, env.hosts)] as const,
        );
        for (const [p, s] of statements) {
          const { frontend } = s.predicate.invocation.parameters;
          assert.equal(frontend, 'dockerfile.v0', `provenance of ${p} on ${daemon.name} names the frontend`);
        }
        recordedSources.set(`${name} on ${daemon.name}`, {
          buildInfoSources: sources,
          provenance: statements.map(([p, s]) => [
            p,
            s.predicate.materials,
            s.predicate.invocation.parameters.locals,
          ]),
        });
        return {
          metadata: keys,
          buildInfo,
          mediaType: index.mediaType,
          manifests: index.manifests,
          provenance: Object.fromEntries(statements.map(([p, s]) => [p, provenanceShape(s)])),
        };
      });
    });
  }

  it(
    'records the build’s sources (provenance materials and locals, build info sources) as buildkitd does',
    { skip: !buildkitdPath() && 'no buildkitd to compare with' },
    () => {
      for (const name of pushEntries) {
        assert.ok(
          recordedSources.has(`${name} on kilnd`) && recordedSources.has(`${name} on buildkitd`),
          name,
        );
        assert.deepEqual(
          recordedSources.get(`${name} on kilnd`),
          recordedSources.get(`${name} on buildkitd`),
          name,
        );
      }
    },
  );
});
