import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ServiceClient } from '../../client/grpc-client.js';
import { Health, HealthCheckResponse_ServingStatus } from '../../proto/gen/grpc/health/v1/health_pb.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { freePort } from '../fixtures/free-port.js';

const sh = promisify(execFile);

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
async function makeCerts(
  dir: string,
): Promise<Record<'ca' | 'cert' | 'key' | 'clientCert' | 'clientKey', string>> {
  const p = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => sh('openssl', args, { cwd: dir });
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=kiln-test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  await writeFile(p('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const [name, cn, ext] of [
    ['server', 'kilnd', ['-extfile', 'san.cnf']],
    ['client', 'kiln-client', []],
  ] as const) {
    await openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    await openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      ...ext,
    );
  }
  return {
    ca: p('ca.pem'),
    cert: p('server.pem'),
    key: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
  };
}

describe('kilnd over TCP with mutual TLS', () => {
  let dir: string;
  let certs: Awaited<ReturnType<typeof makeCerts>>;
  let daemon: KilndProcess;
  let address: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-tls-'));
    certs = await makeCerts(dir);
    address = `tcp://127.0.0.1:${await freePort()}`;
    daemon = await startKilnd({
      args: ['--addr', address, '--tlscert', certs.cert, '--tlskey', certs.key, '--tlscacert', certs.ca],
    });
  });

  after(async () => {
    await daemon?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to listen on TCP without TLS', async () => {
    await assert.rejects(
      startKilnd({ args: ['--addr', `tcp://127.0.0.1:${await freePort()}`] }),
      /TCP listeners need TLS/,
    );
  });

  it('serves a client with a certificate from the CA', async () => {
    const health = new ServiceClient(Health, address, {
      tls: {
        ca: await readFile(certs.ca),
        cert: await readFile(certs.clientCert),
        key: await readFile(certs.clientKey),
      },
    });
    try {
      const response = await health.unary('check', {});
      assert.equal(response.status, HealthCheckResponse_ServingStatus.SERVING);
    } finally {
      health.close();
    }
  });

  it('refuses a client without a certificate', async () => {
    const health = new ServiceClient(Health, address, { tls: { ca: await readFile(certs.ca) } });
    try {
      await assert.rejects(health.unary('check', {}, { deadline: new Date(Date.now() + 5000) }));
    } finally {
      health.close();
    }
  });

  it(
    'works with buildctl --tlscacert --tlscert --tlskey',
    { skip: buildctlPath() ? false : 'no buildctl' },
    async () => {
      const { stdout } = await sh(buildctlPath()!, [
        '--addr',
        address,
        '--tlscacert',
        certs.ca,
        '--tlscert',
        certs.clientCert,
        '--tlskey',
        certs.clientKey,
        'debug',
        'workers',
      ]);
      assert.match(stdout, /linux\/amd64/);
      await assert.rejects(
        sh(buildctlPath()!, [
          '--addr',
          address,
          '--tlscacert',
          certs.ca,
          '--timeout',
          '5',
          'debug',
          'workers',
        ]),
      );
    },
  );
});
