import { connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { RawCall } from './call.js';
import { MethodNotSupportedError, SessionCallError, SessionEndedError } from './errors.js';

/** A method the daemon can call inside the tunnel: a generated method descriptor fits. */
export interface RpcMethod<I extends DescMessage, O extends DescMessage> {
  readonly name: string;
  readonly parent: { readonly typeName: string };
  readonly input: I;
  readonly output: O;
}

/** The full path (`/moby.filesync.v1.Auth/Credentials`) of a method. */
export function methodPath(method: RpcMethod<DescMessage, DescMessage>): string {
  return `/${method.parent.typeName}/${method.name}`;
}

export interface CallOptions {
  /** Request metadata; an array value is sent as repeated header fields (Go sees each value). */
  metadata?: Record<string, string | readonly string[]>;
  signal?: AbortSignal;
}

/** A typed bidirectional call; iterate it for responses. */
export interface BidiCall<I extends DescMessage, O extends DescMessage> extends AsyncIterable<
  MessageShape<O>
> {
  /** Sends one message; resolves when the stream accepts more. */
  send(message: MessageInitShape<I>): Promise<void>;
  /** Sends an already encoded message. */
  sendBytes(message: Uint8Array): Promise<void>;
  /** Half-closes the request side. */
  end(): void;
  /** Abandons the call. */
  cancel(): void;
  /** Resolves on status OK, rejects with a kiln error (SessionCallError, SessionEndedError, …). */
  readonly done: Promise<void>;
}

export interface SessionInfo {
  id: string;
  name: string;
  sharedKey: string;
  /** Method paths the client serves, as it announced them. */
  methods: readonly string[];
}

/**
 * One client's session: the daemon is the HTTP/2 (gRPC) client inside the tunnel and calls the
 * services the client serves (FileSync, FileSend, Auth, Secrets, SSH, Health).
 *
 * Lifecycle: created by SessionManager.accept when a `Control.Session` call arrives; ends when
 * the client half-closes or drops the call, or on close(). Then `signal` aborts, `closed`
 * resolves, and every pending and later call fails with SessionEndedError ("session <id> ended").
 * Calls are cheap (one HTTP/2 stream each); many may run concurrently.
 */
export class Session {
  readonly id: string;
  readonly name: string;
  readonly sharedKey: string;
  readonly methods: readonly string[];
  /** Aborts when the tunnel ends. */
  readonly signal: AbortSignal;
  /** Resolves when the tunnel has ended. */
  readonly closed: Promise<void>;
  private readonly lowerMethods: ReadonlySet<string>;
  private readonly h2: ClientHttp2Session;
  private readonly ended = new AbortController();
  private readonly logger: Logger | undefined;

  constructor(options: { info: SessionInfo; tunnel: Duplex; logger?: Logger }) {
    const { info, tunnel } = options;
    this.id = info.id;
    this.name = info.name;
    this.sharedKey = info.sharedKey;
    this.methods = info.methods;
    this.lowerMethods = new Set(info.methods.map((m) => m.toLowerCase()));
    this.logger = options.logger;
    this.signal = this.ended.signal;
    this.closed = new Promise((resolve) =>
      this.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    this.h2 = connect('http://localhost', {
      createConnection: () => tunnel,
      // Large windows: the tunnel adds a round trip per WINDOW_UPDATE, which would throttle transfers.
      settings: { initialWindowSize: 4 << 20, enablePush: false },
      maxSessionMemory: 128,
    });
    this.h2.on('connect', () => {
      try {
        this.h2.setLocalWindowSize(32 << 20);
      } catch {
        // Only an optimisation; the default window still works.
      }
    });
    this.h2.on('error', (err) => this.logger?.debug({ err, session: this.id }, 'session tunnel error'));
    this.h2.on('close', () => this.markEnded());
    tunnel.on('close', () => this.markEnded());
    tunnel.on('end', () => this.markEnded());
  }

  /** Whether the client announced `method` (a full path; compared case-insensitively). */
  supports(method: string): boolean {
    return this.lowerMethods.has(method.toLowerCase());
  }

  /** Opens a raw call (bytes in, bytes out). Throws MethodNotSupportedError or SessionEndedError. */
  open(path: string, options: CallOptions = {}): RawCall {
    if (!this.supports(path)) throw new MethodNotSupportedError({ sessionId: this.id, method: path });
    if (this.signal.aborted || this.h2.closed || this.h2.destroyed)
      throw new SessionEndedError({ sessionId: this.id });
    const headers: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'kiln-session',
    };
    for (const [key, value] of Object.entries(options.metadata ?? {})) {
      if (typeof value === 'string') headers[key.toLowerCase()] = value;
      else if (value.length > 0) headers[key.toLowerCase()] = [...value];
    }
    let stream;
    try {
      stream = this.h2.request(headers, { endStream: false });
    } catch (err) {
      throw new SessionEndedError({ sessionId: this.id, cause: err });
    }
    const call = new RawCall(stream, path, this.id, () => this.signal.aborted, options.signal);
    return call;
  }

  /** Calls a unary method and returns its response. */
  async unary<I extends DescMessage, O extends DescMessage>(
    method: RpcMethod<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): Promise<MessageShape<O>> {
    const path = methodPath(method);
    const call = this.open(path, options);
    const sent = call.send(toBinary(method.input, create(method.input, request)));
    call.end();
    let response: Buffer | undefined;
    for await (const message of call) response ??= message;
    await sent;
    if (!response) {
      throw new SessionCallError({
        sessionId: this.id,
        method: path,
        grpcCode: 13,
        grpcMessage: 'no response message',
      });
    }
    return fromBinary(method.output, response);
  }

  /** Opens a bidirectional (or client/server streaming) call with typed messages. */
  bidi<I extends DescMessage, O extends DescMessage>(
    method: RpcMethod<I, O>,
    options: CallOptions = {},
  ): BidiCall<I, O> {
    const call = this.open(methodPath(method), options);
    return {
      send: (message) => call.send(toBinary(method.input, create(method.input, message))),
      sendBytes: (message) => call.send(message),
      end: () => call.end(),
      cancel: () => call.cancel(),
      done: call.done,
      async *[Symbol.asyncIterator]() {
        for await (const message of call) yield fromBinary(method.output, message);
      },
    };
  }

  /** Ends the tunnel; pending calls fail with SessionEndedError. Idempotent. */
  close(): void {
    this.markEnded();
  }

  private markEnded(): void {
    if (this.ended.signal.aborted) return;
    this.ended.abort(new SessionEndedError({ sessionId: this.id }));
    if (!this.h2.destroyed) this.h2.destroy();
    this.logger?.debug({ session: this.id }, 'session ended');
  }
}
