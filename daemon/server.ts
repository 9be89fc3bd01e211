import { chmod, chown, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import {
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { TlsConfig } from './config.js';
import { ListenError } from './errors.js';

export interface ApiServerOptions {
  readonly logger: Logger;
  readonly tls?: TlsConfig;
  /** Owner for unix sockets (the socket is always mode 0660). */
  readonly uid?: number;
  readonly gid?: number;
}

/** Sizes and keepalive settings for the control API's gRPC server. */
const serverOptions = {
  // buildctl sends up to 16 MiB; larger definitions are refused with ResourceExhausted.
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.max_send_message_length': 16 * 1024 * 1024,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5000,
};

/**
 * The daemon's gRPC server: unix sockets (mode 0660) and TCP listeners, which are only served
 * with TLS (mutual TLS when a CA is configured), because build steps can reach the network.
 */
export class ApiServer {
  readonly #server = new Server(serverOptions);
  readonly #options: ApiServerOptions;
  readonly #sockets: string[] = [];
  #closed: Promise<void> | undefined;

  constructor(options: ApiServerOptions) {
    this.#options = options;
  }

  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.#server.addService(definition, implementation);
  }

  /** Refuses, before anything listens, an address this server could not serve. */
  check(address: string): void {
    if (address.startsWith('tcp://') && !this.#options.tls) {
      throw new ListenError(
        address,
        'TCP listeners need TLS: set [grpc.tls] cert and key, or --tlscert/--tlskey',
      );
    }
    if (!address.startsWith('unix://') && !address.startsWith('tcp://')) {
      throw new ListenError(address, 'expected unix:///path or tcp://host:port');
    }
  }

  async listen(address: string): Promise<void> {
    this.check(address);
    if (address.startsWith('unix://')) return this.#listenUnix(address, address.slice('unix://'.length));
    if (address.startsWith('tcp://')) return this.#listenTcp(address, address.slice('tcp://'.length));
    throw new ListenError(address, 'expected unix:///path or tcp://host:port');
  }

  async #listenUnix(address: string, path: string): Promise<void> {
    if (!path.startsWith('/')) throw new ListenError(address, 'the socket path must be absolute');
    await mkdir(dirname(path), { recursive: true });
    await removeStaleSocket(address, path);
    await this.#bind(address, `unix://${path}`, ServerCredentials.createInsecure());
    this.#sockets.push(path);
    await chmod(path, 0o660);
    if (this.#options.uid !== undefined || this.#options.gid !== undefined) {
      await chown(
        path,
        this.#options.uid ?? process.getuid?.() ?? 0,
        this.#options.gid ?? process.getgid?.() ?? 0,
      );
    }
  }

  async #listenTcp(address: string, hostPort: string): Promise<void> {
    const tls = this.#options.tls;
    if (!tls) {
      throw new ListenError(
        address,
        'TCP listeners need TLS: set [grpc.tls] cert and key, or --tlscert/--tlskey',
      );
    }
    const [cert, key, ca] = await Promise.all([
      readFile(tls.cert),
      readFile(tls.key),
      tls.ca ? readFile(tls.ca) : Promise.resolve(null),
    ]).catch((cause: Error) => {
      throw new ListenError(address, `cannot read TLS files: ${cause.message}`, { cause });
    });
    const credentials = ServerCredentials.createSsl(
      ca,
      [{ cert_chain: cert, private_key: key }],
      ca !== null,
    );
    await this.#bind(address, hostPort, credentials);
  }

  #bind(address: string, target: string, credentials: ServerCredentials): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(target, credentials, (err) => {
        if (err) reject(new ListenError(address, err.message, { cause: err }));
        else {
          this.#options.logger.info({ address }, 'listening');
          resolve();
        }
      });
    });
  }

  /** Stops accepting calls, waits up to `graceMs` for running ones, then cancels them. */
  async close(graceMs = 0): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closed = this.#shutdown(graceMs);
    return this.#closed;
  }

  async #shutdown(graceMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#server.forceShutdown(), graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await Promise.all(this.#sockets.map((path) => rm(path, { force: true })));
  }
}

/** A socket file left by a dead daemon is removed; a live one makes listening fail. */
async function removeStaleSocket(address: string, path: string): Promise<void> {
  try {
    const info = await stat(path);
    if (!info.isSocket()) throw new ListenError(address, `${path} exists and is not a socket`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const live = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (live) throw new ListenError(address, `another daemon is already listening on ${path}`);
  await rm(path, { force: true });
}
