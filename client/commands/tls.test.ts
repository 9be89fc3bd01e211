import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realBuildctlPath } from '../../test/fixtures/kilnd.js';
import { Client, loadTlsFiles } from '../index.js';
import { buildkitdPath, startTestDaemon, type TestDaemon } from '../testing/daemon.js';
import { makeTestPki, type TestPki } from '../testing/tls.js';
import { runBuildctl, runKilnctl } from '../testing/run-kilnctl.js';

// tcp:// with mutual TLS against a buildkitd that verifies client certificates.

const skip =
  process.getuid?.() !== 0
    ? 'buildkitd needs root'
    : buildkitdPath()
      ? false
      : 'no buildkitd at /tmp/bk/buildkitd';

describe('kilnctl over tcp:// with mutual TLS', { skip }, () => {
  let dir: string;
  let pki: TestPki;
  let daemon: TestDaemon;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kilnctl-tls-'));
    pki = await makeTestPki(dir);
    daemon = await startTestDaemon('buildkitd', {
      tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca },
    });
  });
  after(async () => {
    await daemon?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('connects with --tlsdir and with the three file flags', async () => {
    const viaDir = await runKilnctl(daemon.address, ['--tlsdir', pki.clientDir, 'debug', 'workers']);
    assert.equal(viaDir.code, 0, viaDir.stderr);
    assert.match(viaDir.stdout.toString(), /^ID\t+PLATFORMS\n/);
    const viaFiles = await runKilnctl(daemon.address, [
      '--tlscacert',
      join(pki.clientDir, 'ca.pem'),
      '--tlscert',
      join(pki.clientDir, 'cert.pem'),
      '--tlskey',
      join(pki.clientDir, 'key.pem'),
      'debug',
      'info',
    ]);
    assert.equal(viaFiles.code, 0, viaFiles.stderr);
    const buildctl = realBuildctlPath();
    if (buildctl) {
      const theirs = await runBuildctl(buildctl, daemon.address, [
        '--tlsdir',
        pki.clientDir,
        'debug',
        'workers',
      ]);
      assert.equal(viaDir.stdout.toString(), theirs.stdout.toString());
    }
  });

  it('fails without a client certificate, and refuses --tlsdir mixed with file flags', async () => {
    const plain = await runKilnctl(daemon.address, ['debug', 'info']);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /^error: failed to call info: /);
    const mixed = await runKilnctl(daemon.address, [
      '--tlsdir',
      pki.clientDir,
      '--tlscert',
      'x',
      'debug',
      'info',
    ]);
    assert.equal(mixed.code, 1);
    assert.equal(
      mixed.stderr,
      'error: cannot specify tlsdir and tlscacert/tlscert/tlskey at the same time\n',
    );
  });

  it('works from the library with loadTlsFiles', async () => {
    const tls = await loadTlsFiles({ address: daemon.address, dir: pki.clientDir });
    assert.equal(tls?.serverName, '127.0.0.1');
    const client = new Client({ address: daemon.address, ...(tls ? { tls } : {}) });
    try {
      assert.ok((await client.info()).buildkitVersion.package.length > 0);
    } finally {
      client.close();
    }
  });
});
