import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SSH } from '../proto/gen/moby/sshforward/v1/ssh_pb.js';
import { SshForwardError } from './errors.js';
import type { Session } from './session.js';

/**
 * Succeeds when the client exposes the SSH agent `id` (`--ssh default` → `default`).
 * Throws MethodNotSupportedError when it forwards no agent, SessionCallError (not-found) for an
 * unknown id.
 */
export async function checkAgent(
  session: Session,
  id: string,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  await session.unary(SSH.method.checkAgent, { ID: id }, options);
}

export interface AgentForward {
  /** A unix socket that relays to the client's agent; mount it into the build container. */
  socketPath: string;
  /** Stops listening, ends open relays and removes the socket's private directory. */
  close(): Promise<void>;
}

/**
 * Listens on a unix socket in a private temp directory (mode 0700); every connection to it is
 * relayed to the client's agent through one SSH.ForwardAgent stream (metadata
 * `buildkit.ssh.id: <id>`), raw bytes both ways, half-closing on EOF. Ends with the signal or
 * the session. The relayed bytes are never logged.
 */
export async function forwardSSHAgent(
  session: Session,
  id: string,
  options: { signal?: AbortSignal; logger?: Logger; dir?: string } = {},
): Promise<AgentForward> {
  options.signal?.throwIfAborted();
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), 'kiln-ssh-'));
  const socketPath = join(dir, 'agent.sock');
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    relay(session, id, socket).catch((err: unknown) => {
      options.logger?.debug({ err, sshId: id }, 'ssh agent relay ended with an error');
      socket.destroy();
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new SshForwardError({ sshId: id, message: `cannot listen on ${socketPath}`, cause: err });
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    })());
  const onEnd = (): void => void close();
  options.signal?.addEventListener('abort', onEnd, { once: true });
  session.signal.addEventListener('abort', onEnd, { once: true });
  return {
    socketPath,
    close: () => {
      options.signal?.removeEventListener('abort', onEnd);
      session.signal.removeEventListener('abort', onEnd);
      return close();
    },
  };
}

async function relay(session: Session, id: string, socket: Socket): Promise<void> {
  const call = session.bidi(SSH.method.forwardAgent, { metadata: { 'buildkit.ssh.id': id } });
  socket.on('close', () => call.cancel());
  const upstream = (async () => {
    for await (const chunk of socket as AsyncIterable<Buffer>) await call.send({ data: chunk });
    call.end();
  })();
  upstream.catch(() => call.cancel());
  for await (const message of call) {
    if (!socket.write(message.data)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  socket.end();
  await upstream;
  await call.done;
}
