import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { Metadata, Server, ServerCredentials, type Client, type ClientDuplexStream } from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { BytesMessageSchema, type BytesMessage } from '../../proto/gen/moby/buildkit/v1/control_pb.js';
import { ClientSessionError } from './errors.js';
import { HealthProvider } from './health-provider.js';
import type { SessionProvider } from './provider.js';

/** Opens the `Control.Session` bidi call with the given metadata. */
export type SessionOpener = (metadata: Metadata) => ClientDuplexStream<BytesMessage, BytesMessage>;

export interface OpenSessionOptions {
  /** Shown by the daemon (buildctl sends the basename of its working directory). */
  name: string;
  /** Key for incremental transfers across builds (buildctl sends ''). */
  sharedKey?: string;
  /** Session id; a random 25-character base-36 id by default. */
  id?: string;
  providers: readonly SessionProvider[];
  logger?: Logger;
}

export interface SessionHandle {
  id: string;
  /** Resolves when the daemon ended the session; rejects if the tunnel failed. */
  done: Promise<void>;
  /** Half-closes the session (what buildctl does once Solve returned) and waits for its end. */
  close(): Promise<void>;
}

/** A new 25-character base-36 id, like BuildKit's identity.NewID. */
export function newSessionId(): string {
  const bytes = randomBytes(17);
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n.toString(36).padStart(25, '0').slice(-25);
}

const SESSION_PATH = '/moby.buildkit.v1.Control/Session';

/**
 * Opens a session to the daemon and serves the providers inside it: the daemon becomes the
 * HTTP/2 client of a grpc-js server injected onto the tunnel. `control` is a grpc-js client
 * connected to the daemon (any service's client works: the call is made by path) or a function
 * that opens the call. Health/Check is always served.
 */
export function openSession(control: Client | SessionOpener, options: OpenSessionOptions): SessionHandle {
  const id = options.id ?? newSessionId();
  const server = new Server();
  const providers = [new HealthProvider(), ...options.providers];
  const methods = providers.flatMap((p) => p.register(server));
  const metadata = new Metadata();
  metadata.set('x-docker-expose-session-uuid', id);
  metadata.set('x-docker-expose-session-name', options.name);
  metadata.set('x-docker-expose-session-sharedkey', options.sharedKey ?? '');
  for (const method of methods) metadata.add('x-docker-expose-session-grpc-method', method);
  const call =
    typeof control === 'function'
      ? control(metadata)
      : control.makeBidiStreamRequest<BytesMessage, BytesMessage>(
          SESSION_PATH,
          (m) => Buffer.from(toBinary(BytesMessageSchema, m)),
          (b) => fromBinary(BytesMessageSchema, b),
          metadata,
        );
  const tunnel = clientTunnel(call);
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  injector.injectConnection(tunnel);
  const done = new Promise<void>((resolve, reject) => {
    call.on('status', (status: { code: number; details: string }) => {
      if (status.code === 0 || status.code === 1) resolve();
      else
        reject(
          new ClientSessionError({
            sessionId: id,
            message: `ended with status ${status.code}: ${status.details}`,
          }),
        );
    });
    call.on('error', (err) =>
      reject(new ClientSessionError({ sessionId: id, message: err.message, cause: err })),
    );
  });
  done.catch(() => undefined);
  done
    .finally(() => {
      injector.destroy();
      server.forceShutdown();
    })
    .catch(() => undefined);
  options.logger?.debug({ session: id, methods: methods.length }, 'session opened');
  return {
    id,
    done,
    close: async () => {
      if (!call.writableEnded) call.end();
      const timer = setTimeout(() => call.cancel(), 5000);
      try {
        await done;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The client side of the tunnel as a Duplex (the mirror of the daemon's). */
function clientTunnel(call: ClientDuplexStream<BytesMessage, BytesMessage>): Duplex {
  const duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      if (call.isPaused()) call.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      // After close() half-closed the call, the in-tunnel server's last frames have nowhere to go.
      if (call.writableEnded || call.destroyed) callback();
      else if (call.write(create(BytesMessageSchema, { data: chunk }))) callback();
      else call.once('drain', () => callback());
    },
    final(callback) {
      callback();
    },
  });
  call.on('data', (message: BytesMessage) => {
    if (message.data.length > 0 && !duplex.push(message.data)) call.pause();
  });
  call.on('end', () => duplex.push(null));
  call.on('error', () => duplex.destroy());
  call.on('close', () => {
    if (!duplex.readableEnded) duplex.push(null);
  });
  return duplex;
}
