import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A test CA with a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
export interface TestPki {
  /** `ca.pem`, `cert.pem`, `key.pem` for the client: the layout `--tlsdir` expects. */
  readonly clientDir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

export async function makeTestPki(dir: string): Promise<TestPki> {
  await mkdir(join(dir, 'client'), { recursive: true });
  const days = ['-days', '2'];
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-subj',
      '/CN=kiln-test-ca',
      ...days,
    ],
    dir,
  );
  await writeFile(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, subject] of [
    ['server', '/CN=127.0.0.1'],
    ['client', '/CN=kiln-test-client'],
  ] as const) {
    await openssl(
      [
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        subject,
      ],
      dir,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.pem`,
        '-extfile',
        `${name}.ext`,
        ...days,
      ],
      dir,
    );
  }
  await run('cp', [join(dir, 'ca.pem'), join(dir, 'client', 'ca.pem')]);
  await run('cp', [join(dir, 'client.pem'), join(dir, 'client', 'cert.pem')]);
  await run('cp', [join(dir, 'client.key'), join(dir, 'client', 'key.pem')]);
  return {
    clientDir: join(dir, 'client'),
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
  };
}
