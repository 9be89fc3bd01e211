import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { parseAllDocuments } from 'yaml';
import { parseExportCacheFlags, parseImportCacheFlags, parseOutputFlag } from '../../client/index.js';
import { loadConfig, parseConfigFile } from '../../daemon/config.js';
import { MediaType } from '../../oci/index.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { check, kilnctl, repoRoot } from './processes.js';
import { freePort } from '../fixtures/free-port.js';

const run = promisify(execFile);
const manifestDir = join(repoRoot, 'deploy', 'kubernetes');

/** The parts of Kubernetes objects these checks read (parsed YAML, never written). */
type Labels = Record<string, string>;
type Metadata = { name: string; namespace?: string; labels?: Labels };
type Probe = { httpGet?: { path: string; port: string | number } };
type Container = {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
  resources?: { requests?: Labels; limits?: Labels };
  securityContext?: { privileged?: boolean; capabilities?: { add?: string[]; drop?: string[] } };
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
};
type Volume = {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string };
  emptyDir?: object;
};
type PodSpec = {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  terminationGracePeriodSeconds?: number;
};
type PodTemplate = { metadata: { labels: Labels }; spec: PodSpec };
type StatefulSet = {
  kind: 'StatefulSet';
  metadata: Metadata;
  spec: {
    serviceName: string;
    selector: { matchLabels: Labels };
    template: PodTemplate;
    volumeClaimTemplates: { metadata: { name: string } }[];
  };
};
type Service = {
  kind: 'Service';
  metadata: Metadata;
  spec: { clusterIP?: string; selector: Labels; ports: { name: string; port: number; targetPort: string }[] };
};
type Manifest =
  | StatefulSet
  | Service
  | { kind: 'ConfigMap'; metadata: Metadata; data: Labels }
  | { kind: 'Job'; metadata: Metadata; spec: { template: PodTemplate } }
  | { kind: 'Kustomization'; resources: string[] }
  | { kind: 'Namespace'; metadata: Metadata };

/** The kinds the manifests may use, by apiVersion. */
const knownKinds: Readonly<Record<string, readonly string[]>> = {
  v1: ['Namespace', 'ConfigMap', 'Service'],
  'apps/v1': ['StatefulSet'],
  'batch/v1': ['Job'],
  'kustomize.config.k8s.io/v1beta1': ['Kustomization'],
};

type ManifestFile = { file: string; objects: Manifest[] };

/** Every YAML document under deploy/kubernetes, failing on any parse error or warning. */
async function loadManifests(): Promise<ManifestFile[]> {
  const files = (await readdir(manifestDir)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(
    files.map(async (file): Promise<ManifestFile> => {
      const docs = parseAllDocuments(await readFile(join(manifestDir, file), 'utf8'));
      assert.ok(Array.isArray(docs), `${file}: no YAML documents`);
      const objects = docs.map((doc, i) => {
        assert.deepEqual(
          [...doc.errors, ...doc.warnings].map((e) => e.message),
          [],
          `${file} document ${i + 1}`,
        );
        const value: unknown = doc.toJS();
        assert.ok(typeof value === 'object' && value !== null, `${file} document ${i + 1} is not a mapping`);
        const { apiVersion, kind } = value as { apiVersion?: unknown; kind?: unknown };
        assert.ok(
          typeof apiVersion === 'string' &&
            typeof kind === 'string' &&
            knownKinds[apiVersion]?.includes(kind),
          `${file} document ${i + 1}: unknown apiVersion/kind ${String(apiVersion)}/${String(kind)}`,
        );
        return value as Manifest;
      });
      return { file, objects };
    }),
  );
}

function only<K extends Manifest['kind']>(
  files: readonly ManifestFile[],
  file: string,
  kind: K,
): Extract<Manifest, { kind: K }> {
  const found = files.find((f) => f.file === file)?.objects.filter((o) => o.kind === kind) ?? [];
  assert.equal(found.length, 1, `${file} holds one ${kind}`);
  return found[0] as Extract<Manifest, { kind: K }>;
}

function kilndContainer(set: StatefulSet): Container {
  const container = set.spec.template.spec.containers.find((c) => c.name === 'kilnd');
  assert.ok(container, `${set.metadata.name} has a container named kilnd`);
  return container;
}

const hasLabels = (labels: Readonly<Record<string, string>>, wanted: Readonly<Record<string, string>>) =>
  Object.entries(wanted).every(([k, v]) => labels[k] === v);

/** The port of `host:port` or `tcp://host:port`. */
const portOf = (address: string) => Number(/:(\d+)$/.exec(address)?.[1]);

/** The mount whose path holds `path` (the deepest one), with the volume behind it. */
function mountHolding(spec: PodSpec, container: Container, path: string) {
  const mount = (container.volumeMounts ?? [])
    .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  assert.ok(mount, `${path} is on no volume of container ${container.name}`);
  const volume = spec.volumes?.find((v) => v.name === mount.name);
  return { mount, volume };
}

/** Every manifest type kiln pushes: without them the registry would answer with a converted manifest. */
const manifestTypes = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
].join(',');

const needsRoot = process.getuid?.() === 0 ? false : 'kilnd needs root';
const statefulSetFiles = ['statefulset.yaml', 'statefulset-reduced-privilege.yaml'];

/**
 * Issue 12, part 6: the Kubernetes manifests, checked without a cluster. Every document parses;
 * names, labels, ports, volumes and probes agree with each other and with the kilnd.toml in the
 * ConfigMap, which kilnd's own loader reads; the StatefulSets' and the Job's arguments go through
 * kilnd's and kilnctl's parsers; and a real kilnd started with that kilnd.toml runs the Job's
 * build over mutual TLS.
 */
describe('deploy/kubernetes manifests', () => {
  let manifests: ManifestFile[];
  let kilndToml: string;
  let work: string;

  before(async () => {
    manifests = await loadManifests();
    kilndToml = only(manifests, 'configmap.yaml', 'ConfigMap').data['kilnd.toml']!;
    assert.ok(kilndToml, 'the ConfigMap holds kilnd.toml');
    work = await mkdtemp(join(tmpdir(), 'kiln-k8s-'));
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** kilnd's configuration as the pods get it: the StatefulSet's flags over the ConfigMap's file. */
  async function podConfig(set: StatefulSet) {
    const args = [...(kilndContainer(set).args ?? [])];
    const at = args.indexOf('--config');
    assert.ok(at >= 0, `${set.metadata.name} passes --config`);
    const local = join(work, 'kilnd.toml');
    await writeFile(local, kilndToml);
    const path = args[at + 1]!;
    args[at + 1] = local;
    return { path, config: await loadConfig(args) };
  }

  it('are Kubernetes objects of known kinds, all in the kiln namespace; the kustomization lists the base', () => {
    for (const { file, objects } of manifests) {
      for (const o of objects) {
        if (o.kind === 'Namespace') assert.equal(o.metadata.name, 'kiln', file);
        else if (o.kind !== 'Kustomization') assert.equal(o.metadata.namespace, 'kiln', file);
      }
    }
    const kustomization = only(manifests, 'kustomization.yaml', 'Kustomization');
    assert.deepEqual([...kustomization.resources].sort(), [
      'configmap.yaml',
      'namespace.yaml',
      'services.yaml',
      'statefulset.yaml',
    ]);
    assert.deepEqual(manifests.map((m) => m.file).sort(), [
      'ci-job.yaml',
      'configmap.yaml',
      'kustomization.yaml',
      'namespace.yaml',
      'services.yaml',
      'statefulset-reduced-privilege.yaml',
      'statefulset.yaml',
    ]);
  });

  it("kilnd.toml loads with kilnd's own loader: no unknown keys, GC rules and history as written", () => {
    const file = parseConfigFile(kilndToml, 'configmap.yaml:kilnd.toml');
    assert.deepEqual(file.unknownKeys, []);
    assert.equal(file.worker.gcPolicies?.length, 4);
    // One filter per rule: kiln requires every filter of a rule to match a record.
    for (const policy of file.worker.gcPolicies ?? []) assert.ok(policy.filters.length <= 1);
    assert.deepEqual(file.history, { maxAgeMs: 168 * 3600_000, maxEntries: 500 });
  });

  for (const setFile of statefulSetFiles) {
    describe(setFile, () => {
      it('passes kilnd flags it accepts; state, config, socket and TLS files sit on the right volumes', async () => {
        const set = only(manifests, setFile, 'StatefulSet');
        const spec = set.spec.template.spec;
        const { path, config } = await podConfig(set);
        const container = kilndContainer(set);
        assert.equal(container.image.split(':')[0], 'kiln/kilnd');
        assert.equal(config.logFormat, 'json');
        const { mount, volume } = mountHolding(spec, container, path);
        assert.equal(volume?.configMap?.name, 'kilnd-config');
        assert.equal(mount.subPath ?? posix.relative(mount.mountPath, path), 'kilnd.toml');
        assert.equal(config.root, '/var/lib/kiln');
        const state = container.volumeMounts?.find((m) => m.mountPath === config.root);
        assert.deepEqual(
          set.spec.volumeClaimTemplates.map((t) => t.metadata.name),
          [state?.name],
          'the claim template is mounted at the root',
        );
        const socket = config.addresses.find((a) => a.startsWith('unix://'));
        assert.ok(socket, 'kilnd listens on a unix socket');
        assert.ok(mountHolding(spec, container, socket.slice('unix://'.length)).volume?.emptyDir);
        const tls = config.grpc.tls;
        assert.ok(tls?.ca, 'TCP is mutual TLS (a CA is configured)');
        for (const file of [tls.cert, tls.key, tls.ca]) {
          assert.equal(mountHolding(spec, container, file).volume?.secret?.secretName, 'kilnd-tls', file);
        }
      });

      it("waits longer than kilnd's drain before killing it, and sets requests and limits", async () => {
        const set = only(manifests, setFile, 'StatefulSet');
        const { config } = await podConfig(set);
        const grace = set.spec.template.spec.terminationGracePeriodSeconds ?? 30;
        assert.ok(grace * 1000 > config.shutdownTimeoutMs, `${grace}s ≤ drain ${config.shutdownTimeoutMs}ms`);
        const resources = kilndContainer(set).resources;
        for (const kind of ['requests', 'limits'] as const) {
          assert.ok(resources?.[kind]?.['memory'] && resources[kind]['cpu'], kind);
        }
      });

      it('names container ports after the addresses in kilnd.toml and probes the debug address', async () => {
        const set = only(manifests, setFile, 'StatefulSet');
        const { config } = await podConfig(set);
        const container = kilndContainer(set);
        const port = (name: string) => container.ports?.find((p) => p.name === name)?.containerPort;
        const tcp = config.addresses.filter((a) => a.startsWith('tcp://'));
        assert.deepEqual(tcp.map(portOf), [port('grpc')]);
        assert.ok(config.debugAddress, 'kilnd.toml sets debugAddress');
        // The kubelet probes the pod's IP, so loopback would fail every probe.
        assert.match(config.debugAddress, /^(0\.0\.0\.0|\[::\]):/);
        assert.equal(portOf(config.debugAddress), port('debug'));
        const probes = {
          startupProbe: '/healthz',
          livenessProbe: '/healthz',
          readinessProbe: '/readyz',
        } as const;
        for (const [probe, path] of Object.entries(probes)) {
          const get = container[probe as keyof typeof probes]?.httpGet;
          assert.deepEqual(get && { path: get.path, port: get.port }, { path, port: 'debug' }, probe);
        }
      });

      it('is selected by both Services, whose ports target its container ports by name', () => {
        const set = only(manifests, setFile, 'StatefulSet');
        const labels = set.spec.template.metadata.labels;
        assert.ok(hasLabels(labels, set.spec.selector.matchLabels), 'the selector matches the pods');
        const services = manifests.find((m) => m.file === 'services.yaml')!.objects as Service[];
        assert.deepEqual(services.map((s) => s.metadata.name).sort(), ['kilnd', 'kilnd-headless']);
        const headless = services.find((s) => s.metadata.name === set.spec.serviceName);
        assert.equal(headless?.spec.clusterIP, 'None', 'serviceName is the headless Service');
        const names = new Set(kilndContainer(set).ports?.map((p) => p.name));
        for (const service of services) {
          assert.ok(hasLabels(labels, service.spec.selector), `${service.metadata.name} selects the pods`);
          for (const p of service.spec.ports) assert.ok(names.has(p.targetPort), `${p.targetPort} is a port`);
        }
      });
    });
  }

  it('the full StatefulSet runs privileged; the reduced one drops that for a stated set of capabilities', () => {
    assert.equal(
      kilndContainer(only(manifests, 'statefulset.yaml', 'StatefulSet')).securityContext?.privileged,
      true,
    );
    const reduced = kilndContainer(only(manifests, 'statefulset-reduced-privilege.yaml', 'StatefulSet'));
    assert.notEqual(reduced.securityContext?.privileged, true);
    assert.deepEqual(reduced.securityContext?.capabilities?.drop, ['ALL']);
    assert.ok(reduced.securityContext?.capabilities?.add?.includes('SYS_ADMIN'));
    // Its command remounts cgroupfs, then hands the same args to kilnd under tini, as the image does.
    assert.deepEqual([reduced.command?.[0], reduced.command?.at(-1)], ['/bin/sh', 'kilnd']);
    assert.match(reduced.command?.[2] ?? '', /\nexec \/usr\/bin\/tini -- kilnd "\$@"\n$/);
  });

  it("the CI Job's kilnctl reaches the kilnd Service over mTLS with files from its Secrets", async () => {
    const job = only(manifests, 'ci-job.yaml', 'Job');
    const spec = job.spec.template.spec;
    const build = spec.containers[0]!;
    assert.deepEqual(build.command, ['kilnctl']);
    const args = build.args ?? [];
    const split = args.indexOf('build');
    const globals = args.slice(0, split);
    const flag = (list: readonly string[], name: string) =>
      list.flatMap((a, i) => (a === name ? [list[i + 1]!] : []));
    // kilnctl's own parser takes the global flags (--version stops before connecting).
    check(await kilnctl([...globals, '--version']), 'kilnctl with the Job global flags');
    const service = (manifests.find((m) => m.file === 'services.yaml')!.objects as Service[]).find(
      (s) => s.metadata.name === 'kilnd',
    )!;
    assert.deepEqual(flag(globals, '--addr'), [
      `tcp://${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0]!.port}`,
    ]);
    for (const name of ['--tlscacert', '--tlscert', '--tlskey']) {
      const [file] = flag(globals, name);
      assert.equal(mountHolding(spec, build, file!).volume?.secret?.secretName, 'kilnctl-tls', name);
    }
    const rest = args.slice(split + 1);
    const [output] = flag(rest, '--output').map((o) => parseOutputFlag(o, { stdoutIsTTY: false }));
    assert.equal(output?.type, 'image');
    assert.equal(output?.attrs['push'], 'true');
    const [exported] = parseExportCacheFlags(flag(rest, '--export-cache'));
    const [imported] = parseImportCacheFlags(flag(rest, '--import-cache'));
    assert.equal(exported?.type, 'registry');
    assert.equal(exported?.attrs['ref'], imported?.attrs['ref'], 'the Job imports the cache it exports');
    const dockerConfig = build.env?.find((e) => e.name === 'DOCKER_CONFIG')?.value;
    assert.equal(
      mountHolding(spec, build, `${dockerConfig}/config.json`).volume?.secret?.secretName,
      'registry-credentials',
    );
    for (const local of flag(rest, '--local')) {
      const dir = local.slice(local.indexOf('=') + 1);
      const checkout = spec.initContainers?.find((c) => c.name === 'checkout');
      assert.ok(checkout?.command?.includes(dir), `the checkout clones into ${dir}`);
      assert.ok(mountHolding(spec, build, dir).volume?.emptyDir, `${dir} is the shared workspace`);
    }
  });

  describe('kilnd with the ConfigMap runs the CI Job build', { skip: needsRoot }, () => {
    let registry: TestRegistry;
    let daemon: KilndProcess;
    let certs: string;
    let tcpPort: number;
    let debugPort: number;

    before(async () => {
      certs = join(work, 'certs');
      registry = await startRegistry({ auth: 'none' });
      await makeCertificates(certs);
      [tcpPort, debugPort] = [await freePort(), await freePort()];
      const set = only(manifests, 'statefulset.yaml', 'StatefulSet');
      const config = parseToml(kilndToml) as Record<string, Record<string, unknown>>;
      const grpc = config['grpc']!;
      const tls = grpc['tls'] as Record<string, string>;
      for (const key of ['cert', 'key', 'ca'])
        tls[key] = tls[key]!.replace('/etc/kiln/certs', join(certs, 'server'));
      grpc['debugAddress'] = `127.0.0.1:${debugPort}`;
      // The fixture passes --addr for its own socket and --root, which replace the file's.
      const tcp = `tcp://127.0.0.1:${tcpPort}`;
      grpc['address'] = [tcp];
      const file = join(work, 'kilnd-test.toml');
      await writeFile(file, stringifyToml(config));
      const args = [...(kilndContainer(set).args ?? [])];
      args[args.indexOf('--config') + 1] = file;
      daemon = await startKilnd({ args: [...args, '--addr', tcp] });
      await waitReady(`http://127.0.0.1:${debugPort}/readyz`, daemon);
    });
    after(async () => {
      await daemon?.dispose();
      await registry?.stop();
    });

    it('builds, pushes the image and the registry cache over mutual TLS', async () => {
      const base = (await pushBusyboxIndex(registry)).ref;
      const context = join(work, 'workspace');
      await mkdir(context);
      await writeFile(
        join(context, 'Dockerfile'),
        `FROM ${base}\nCOPY app.txt /app.txt\nRUN cat /app.txt > /built\n`,
      );
      await writeFile(join(context, 'app.txt'), 'built by the CI Job\n');
      const metadata = join(work, 'metadata.json');
      const job = only(manifests, 'ci-job.yaml', 'Job');
      const rewrites: ReadonlyArray<readonly [string, string]> = [
        ['tcp://kilnd.kiln.svc.cluster.local:1234', `tcp://127.0.0.1:${tcpPort}`],
        ['/etc/kilnctl/tls', join(certs, 'client')],
        ['/workspace', context],
        ['registry.example.com', registry.host],
        ['/tmp/build-metadata.json', metadata],
      ];
      const args = (job.spec.template.spec.containers[0]!.args ?? []).map((arg) =>
        rewrites.reduce((a, [from, to]) => a.replaceAll(from, to), arg),
      );
      const result = await kilnctl(args, { timeoutMs: 60_000 });
      check(result, 'the CI Job build');
      const digest = (JSON.parse(await readFile(metadata, 'utf8')) as Record<string, string>)[
        'containerimage.digest'
      ];
      const manifest = await fetch(`http://${registry.host}/v2/team/app/manifests/latest`, {
        method: 'HEAD',
        headers: { accept: manifestTypes },
      });
      assert.equal(manifest.status, 200, 'the image was pushed');
      assert.equal(manifest.headers.get('docker-content-digest'), digest);
      const cache = await fetch(`http://${registry.host}/v2/team/app/manifests/buildcache`, {
        method: 'HEAD',
        headers: { accept: manifestTypes },
      });
      assert.equal(cache.status, 200, 'the cache was exported');
      const metrics = await (await fetch(`http://127.0.0.1:${debugPort}/metrics`)).text();
      assert.match(metrics, /^kiln_builds_total\{result="succeeded"\} 1$/m);
    });

    it('refuses a client without a certificate from the CA', async () => {
      const dial = ['--addr', `tcp://127.0.0.1:${tcpPort}`, '--tlscacert', join(certs, 'client', 'ca.crt')];
      const refused = await kilnctl([...dial, 'debug', 'workers']);
      assert.notEqual(refused.code, 0, refused.stdout);
      assert.match(refused.stderr, /certificate required/);
      const client = [
        '--tlscert',
        join(certs, 'client', 'tls.crt'),
        '--tlskey',
        join(certs, 'client', 'tls.key'),
      ];
      check(await kilnctl([...dial, ...client, 'debug', 'workers']), 'kilnctl with its certificate');
    });
  });
});

async function waitReady(url: string, daemon: KilndProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await fetch(url).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline || daemon.child.exitCode !== null) {
      throw new Error(`kilnd never became ready (last status ${status}):\n${daemon.logs()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A CA, kilnd's server certificate and a client certificate, made as docs/operations.md makes
 * them (a day's validity here): `server/` and `client/` hold tls.crt, tls.key and ca.crt, as the
 * Secrets do. The server's names include 127.0.0.1, the address the test dials.
 */
async function makeCertificates(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const script = `
    key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    leaf="-CA ca.crt -CAkey ca.key -addext basicConstraints=critical,CA:FALSE"
    openssl req -x509 $key -subj /CN=kiln-ca -keyout ca.key -out ca.crt
    mkdir server client
    openssl req -x509 $key $leaf -subj /CN=kilnd -keyout server/tls.key -out server/tls.crt \\
      -addext extendedKeyUsage=serverAuth \\
      -addext "subjectAltName=DNS:kilnd.kiln.svc.cluster.local,DNS:*.kilnd-headless.kiln.svc.cluster.local,IP:127.0.0.1"
    openssl req -x509 $key $leaf -subj /CN=ci -keyout client/tls.key -out client/tls.crt \\
      -addext extendedKeyUsage=clientAuth
    cp ca.crt server/ && cp ca.crt client/`;
  await run('sh', ['-e', '-c', script], { cwd: dir });
}
