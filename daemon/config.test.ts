import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig, parseConfigFile } from './config.js';

describe('kilnd configuration', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const full = `
root = "/srv/kiln"
debug = true
insecure-entitlements = ["network.host", "security.insecure"]

[grpc]
address = ["unix:///run/kiln.sock", "tcp://0.0.0.0:1234"]
uid = 1000
gid = 1001
debugAddress = "127.0.0.1:6060"

[grpc.tls]
cert = "/etc/kiln/cert.pem"
key = "/etc/kiln/key.pem"
ca = "/etc/kiln/ca.pem"

[worker.oci]
snapshotter = "native"
max-parallelism = 4
platforms = ["linux/amd64", "linux/arm64"]
networkMode = "none"
binary = "crun"
gc = false
gckeepstorage = "10GB"

[[worker.oci.gcpolicy]]
filters = ["type==source.local"]
keepDuration = "48h"
keepBytes = "512MB"

[[worker.oci.gcpolicy]]
all = true
reservedSpace = "1GB"
maxUsedSpace = "20%"
minFreeSpace = 5000000000

[registry."docker.io"]
mirrors = ["mirror.example.com"]

[registry."127.0.0.1:5000"]
http = true
insecure = true
ca = ["/etc/ca.pem"]

[history]
maxAge = 3600
maxEntries = 10
`;

  it('reads every key it knows', () => {
    const c = parseConfigFile(full, 'kilnd.toml');
    assert.equal(c.root, '/srv/kiln');
    assert.equal(c.debug, true);
    assert.deepEqual(c.insecureEntitlements, ['network.host', 'security.insecure']);
    assert.deepEqual(c.addresses, ['unix:///run/kiln.sock', 'tcp://0.0.0.0:1234']);
    assert.deepEqual(c.grpc, {
      uid: 1000,
      gid: 1001,
      tls: { cert: '/etc/kiln/cert.pem', key: '/etc/kiln/key.pem', ca: '/etc/kiln/ca.pem' },
    });
    assert.equal(c.debugAddress, '127.0.0.1:6060');
    assert.equal(c.worker.snapshotter, 'native');
    assert.equal(c.worker.maxParallelism, 4);
    assert.deepEqual(c.worker.platforms, ['linux/amd64', 'linux/arm64']);
    assert.equal(c.worker.networkMode, 'none');
    assert.equal(c.worker.runtime, 'crun');
    assert.equal(c.worker.gc, false);
    assert.deepEqual(c.worker.gcKeepStorage, { bytes: 10e9 });
    assert.deepEqual(c.worker.gcPolicies, [
      {
        all: false,
        filters: ['type==source.local'],
        keepDurationMs: 172_800_000,
        maxUsedSpace: { bytes: 512e6 },
      },
      {
        all: true,
        filters: [],
        keepDurationMs: 0,
        reservedSpace: { bytes: 1e9 },
        maxUsedSpace: { percent: 20 },
        minFreeSpace: { bytes: 5e9 },
      },
    ]);
    assert.deepEqual(c.registries['docker.io'], { mirrors: ['mirror.example.com'] });
    assert.deepEqual(c.registries['127.0.0.1:5000'], { http: true, insecure: true, ca: ['/etc/ca.pem'] });
    assert.deepEqual(c.history, { maxAgeMs: 3_600_000, maxEntries: 10 });
    assert.deepEqual(c.unknownKeys, []);
  });

  it('names the key of a bad value', () => {
    const cases: Array<[string, RegExp]> = [
      ['[worker.oci]\nsnapshotter = "zfs"', /worker\.oci\.snapshotter: expected auto \| overlayfs \| native/],
      ['[worker.oci]\nmax-parallelism = 0', /worker\.oci\.max-parallelism: expected an integer ≥ 1/],
      ['[grpc]\naddress = "unix:///x"', /grpc\.address: expected a list of strings/],
      ['[grpc.tls]\ncert = "/c.pem"', /grpc\.tls: cert and key must be given together/],
      ['insecure-entitlements = ["device"]', /insecure-entitlements: unknown entitlement "device"/],
      [
        '[[worker.oci.gcpolicy]]\nkeepBytes = "lots"',
        /worker\.oci\.gcpolicy\[0\]\.keepBytes: expected a size/,
      ],
      [
        '[[worker.oci.gcpolicy]]\nfilters = ["colour==red"]',
        /worker\.oci\.gcpolicy\[0\]\.filters: unknown filter key "colour"/,
      ],
      ['[history]\nmaxAge = "forever"', /history\.maxAge: expected seconds or a duration/],
      ['debug = "yes"', /debug: expected true or false/],
      ['root = ', /not valid TOML/],
    ];
    for (const [text, message] of cases)
      assert.throws(() => parseConfigFile(text, 'kilnd.toml'), message, text);
  });

  it('lists unknown keys instead of failing on them', () => {
    const c = parseConfigFile(
      'frobnicate = 1\n[worker.oci]\nshiny = true\n[registry."x"]\nweird = 1\n',
      'k.toml',
    );
    assert.deepEqual(c.unknownKeys.sort(), ['frobnicate', 'registry."x".weird', 'worker.oci.shiny']);
  });

  it('lets flags win over the file, and reads a missing default file as defaults', async () => {
    const path = join(dir, 'kilnd.toml');
    await writeFile(path, 'root = "/from/file"\n[worker.oci]\nsnapshotter = "native"\n');
    const c = await loadConfig(['--config', path, '--root', '/from/flag', '--snapshotter', 'overlayfs']);
    assert.equal(c.root, '/from/flag');
    assert.equal(c.worker.snapshotter, 'overlayfs');
    const defaults = await loadConfig([]);
    assert.equal(defaults.root, '/var/lib/kiln');
    assert.deepEqual(defaults.addresses, ['unix:///run/buildkit/buildkitd.sock']);
    await assert.rejects(loadConfig(['--config', join(dir, 'missing.toml')]), /--config: cannot read/);
    await assert.rejects(loadConfig(['--log-format', 'xml']), /--log-format/);
  });
});
