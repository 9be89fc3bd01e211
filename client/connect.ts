import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientConnectError } from './errors.js';

/** TLS for `tcp://` addresses: PEM contents (Buffers or strings). */
export interface ClientTls {
  readonly ca?: Buffer | string;
  readonly cert?: Buffer | string;
  readonly key?: Buffer | string;
  /** Name checked against the server certificate; the address's host by default. */
  readonly serverName?: string;
}

/** Checks an address: `unix:///path` or `tcp://host:port`. Throws ClientConnectError otherwise. */
export function checkAddress(address: string): void {
  if (/^unix:\/\/.+/.test(address)) return;
  if (/^tcp:\/\/[^/]+:\d+\/?$/.test(address)) return;
  throw new ClientConnectError({
    address,
    message: `unsupported address ${JSON.stringify(address)}: expected unix:///path or tcp://host:port`,
  });
}

/** The host part of a `tcp://` address (buildctl's default TLS server name). */
export function addressHost(address: string): string {
  try {
    return new URL(address).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return '';
  }
}

/**
 * Reads TLS files as buildctl's `--tlscacert/--tlscert/--tlskey` or `--tlsdir` (which must hold
 * `ca.pem`, `cert.pem` and `key.pem`, and excludes the other three). Undefined when no TLS is asked.
 */
export async function loadTlsFiles(options: {
  address: string;
  caCert?: string;
  cert?: string;
  key?: string;
  dir?: string;
  serverName?: string;
}): Promise<ClientTls | undefined> {
  let { caCert, cert, key } = options;
  if (options.dir) {
    if (caCert || cert || key) {
      throw new ClientConnectError({
        address: options.address,
        message: 'cannot specify tlsdir and tlscacert/tlscert/tlskey at the same time',
      });
    }
    caCert = join(options.dir, 'ca.pem');
    cert = join(options.dir, 'cert.pem');
    key = join(options.dir, 'key.pem');
    for (const file of [caCert, cert, key]) {
      await stat(file).catch((err: unknown) => {
        throw new ClientConnectError({
          address: options.address,
          message: (err as Error).message,
          cause: err,
        });
      });
    }
  }
  if (!caCert && !cert && !key) return undefined;
  const read = async (file: string | undefined): Promise<Buffer | undefined> => {
    if (!file) return undefined;
    try {
      return await readFile(file);
    } catch (err) {
      throw new ClientConnectError({
        address: options.address,
        message: `could not read ${file}: ${(err as Error).message}`,
        cause: err,
      });
    }
  };
  const [ca, c, k] = await Promise.all([read(caCert), read(cert), read(key)]);
  return {
    ...(ca ? { ca } : {}),
    ...(c ? { cert: c } : {}),
    ...(k ? { key: k } : {}),
    serverName: options.serverName || addressHost(options.address),
  };
}
