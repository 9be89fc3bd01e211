import { fromBinary } from '@bufbuild/protobuf';
import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2';
import type { Duplex } from 'node:stream';
import { StatusSchema, type Status } from '../../proto/gen/google/rpc/status_pb.js';
import { GatewayCallError, GatewayConnectionError } from './errors.js';

/** Largest message accepted from the daemon (ReadFile answers carry whole files). */
const maxMessageBytes = 64 << 20;

function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Splits the DATA byte stream of a call into length-prefixed gRPC messages. */
class MessageSplitter {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, emit: (message: Buffer) => void): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= 5) {
      if (this.#pending[0] !== 0) throw new Error('compressed gRPC messages are not supported');
      const length = this.#pending.readUInt32BE(1);
      if (length > maxMessageBytes) throw new Error(`gRPC message of ${length} bytes is too large`);
      if (this.#pending.length < 5 + length) return;
      emit(this.#pending.subarray(5, 5 + length));
      this.#pending = this.#pending.subarray(5 + length);
    }
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function decodeMessage(raw: string | undefined): string {
  try {
    return decodeURIComponent(raw ?? '');
  } catch {
    return raw ?? '';
  }
}

/**
 * One gRPC call over the connection, as raw messages: `send`, `end`, iterate the replies, and
 * `done` settles with the call's status (rejecting with GatewayCallError or GatewayConnectionError).
 */
export class GrpcCall implements AsyncIterable<Buffer> {
  readonly done: Promise<void>;
  readonly #stream: ClientHttp2Stream;
  readonly #method: string;
  readonly #queue: Buffer[] = [];
  readonly #splitter = new MessageSplitter();
  #wake: (() => void) | undefined;
  #closed = false;
  #status: { code: number; message: string; details?: Status } | undefined;
  #failure: Error | undefined;

  constructor(stream: ClientHttp2Stream, method: string) {
    this.#stream = stream;
    this.#method = method;
    stream.on('response', (h) => this.#onHeaders(h));
    stream.on('trailers', (h) => this.#onHeaders(h));
    stream.on('data', (chunk: Buffer) => {
      try {
        this.#splitter.push(chunk, (m) => this.#queue.push(m));
      } catch (err) {
        this.#failure ??= new GatewayConnectionError({ method, message: (err as Error).message, cause: err });
        stream.close(constants.NGHTTP2_PROTOCOL_ERROR);
      }
      this.#notify();
    });
    stream.on('error', (err) => {
      this.#failure ??= new GatewayConnectionError({
        method,
        message: `${method}: the connection to the daemon failed: ${err.message}`,
        cause: err,
      });
    });
    this.done = new Promise<void>((resolve, reject) => {
      stream.on('close', () => {
        this.#closed = true;
        this.#notify();
        const err = this.#outcome();
        if (err) reject(err);
        else resolve();
      });
    });
    this.done.catch(() => undefined);
  }

  /** Sends one message; resolves when the stream takes more. */
  async send(message: Uint8Array): Promise<void> {
    if (this.#stream.destroyed || this.#stream.writableEnded) {
      throw this.#outcome() ?? new GatewayConnectionError({ method: this.#method, message: 'call closed' });
    }
    if (!this.#stream.write(frame(message))) {
      await new Promise<void>((resolve) => {
        const ready = (): void => {
          this.#stream.off('drain', ready);
          this.#stream.off('close', ready);
          resolve();
        };
        this.#stream.on('drain', ready);
        this.#stream.on('close', ready);
      });
    }
  }

  /** Half-closes: the daemon sees the end of the request stream. */
  end(): void {
    if (!this.#stream.writableEnded && !this.#stream.destroyed) this.#stream.end();
  }

  /** Abandons the call (the daemon sees it cancelled). */
  cancel(): void {
    if (!this.#stream.destroyed) this.#stream.close(constants.NGHTTP2_CANCEL);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const next = this.#queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.#closed) {
        await this.done;
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #onHeaders(headers: IncomingHttpHeaders): void {
    const code = header(headers, 'grpc-status');
    if (code === undefined) return;
    const bin = header(headers, 'grpc-status-details-bin');
    let details: Status | undefined;
    try {
      details = bin ? fromBinary(StatusSchema, Buffer.from(bin, 'base64')) : undefined;
    } catch {
      details = undefined;
    }
    this.#status = {
      code: Number(code),
      message: decodeMessage(header(headers, 'grpc-message')),
      ...(details ? { details } : {}),
    };
  }

  #outcome(): Error | undefined {
    if (this.#status) {
      if (this.#status.code === 0) return undefined;
      return new GatewayCallError({
        method: this.#method,
        grpcCode: this.#status.code,
        message: this.#status.details?.message || this.#status.message,
        ...(this.#status.details ? { status: this.#status.details } : {}),
      });
    }
    return (
      this.#failure ??
      new GatewayConnectionError({
        method: this.#method,
        message: `${this.#method}: the daemon closed the call without a status`,
      })
    );
  }
}

/**
 * A gRPC client connection over any byte stream (a gateway frontend's stdin and stdout): HTTP/2
 * from node:http2 with gRPC's framing, since grpc-js clients can only dial sockets. Calls are
 * multiplexed; the connection lives until `close` or until the stream ends.
 */
export class GrpcConnection {
  readonly #session: ClientHttp2Session;
  readonly closed: Promise<void>;

  private constructor(session: ClientHttp2Session) {
    this.#session = session;
    this.closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    // A broken transport fails the calls on it; the session error itself needs no handler beyond that.
    session.on('error', () => undefined);
  }

  /** Opens HTTP/2 over `transport` (already connected; nothing is dialled). */
  static over(transport: Duplex): GrpcConnection {
    // A broken transport ends the session, which fails its calls; the error itself is not news.
    transport.on('error', () => undefined);
    return new GrpcConnection(connect('http://localhost', { createConnection: () => transport }));
  }

  /** Starts a call of `method` (`/package.Service/Method`). */
  call(method: string, signal?: AbortSignal): GrpcCall {
    if (this.#session.closed || this.#session.destroyed) {
      throw new GatewayConnectionError({
        method,
        message: `${method}: the connection to the daemon is closed`,
      });
    }
    const stream = this.#session.request({
      ':method': 'POST',
      ':path': method,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const call = new GrpcCall(stream, method);
    if (signal) {
      const abort = (): void => call.cancel();
      if (signal.aborted) abort();
      else {
        signal.addEventListener('abort', abort, { once: true });
        stream.once('close', () => signal.removeEventListener('abort', abort));
      }
    }
    return call;
  }

  /** One request, one reply. */
  async unary(method: string, request: Uint8Array, signal?: AbortSignal): Promise<Buffer> {
    const call = this.call(method, signal);
    await call.send(request);
    call.end();
    let reply: Buffer | undefined;
    for await (const message of call) reply ??= message;
    if (!reply) {
      throw new GatewayConnectionError({ method, message: `${method}: the daemon sent no reply` });
    }
    return reply;
  }

  /** Closes the connection once running calls finish. */
  async close(): Promise<void> {
    if (!this.#session.closed) this.#session.close();
    await this.closed;
  }

  /** Drops the connection and every call on it. */
  destroy(): void {
    this.#session.destroy();
  }
}
