import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { constants } from 'node:http2';
import { SessionCallError, SessionCanceledError, SessionEndedError } from './errors.js';
import { MessageDecoder, frameHeader } from './grpc-frame.js';

/** Received messages held before the HTTP/2 stream is paused (flow control then stops the client). */
const HIGH_WATER_MESSAGES = 64;

/** Decodes `grpc-message`, which gRPC percent-encodes. */
function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const value = Array.isArray(raw) ? raw.join(', ') : (raw ?? '');
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

interface Status {
  code: number;
  message: string;
}

/**
 * One gRPC call issued by the daemon over the tunnel, in raw bytes: send messages, read
 * messages, half-close, and learn the status. Backpressure both ways: `send` resolves once the
 * HTTP/2 stream accepts more, and reading pauses the stream while unread messages pile up.
 */
export class RawCall implements AsyncIterable<Buffer> {
  /** Resolves when the call ended with status OK; rejects with a kiln error otherwise. */
  readonly done: Promise<void>;
  private readonly queue: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  private status: Status | undefined;
  private readonly decoder = new MessageDecoder();

  constructor(
    private readonly stream: ClientHttp2Stream,
    readonly method: string,
    private readonly sessionId: string,
    private readonly sessionEnded: () => boolean,
    signal: AbortSignal | undefined,
  ) {
    stream.on('response', (headers) => this.onHeaders(headers));
    stream.on('trailers', (trailers) => this.onHeaders(trailers));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => {
      // The status arrived: the call is over even if our side is still open (the client sent an
      // error before reading everything); close the stream so 'close' follows.
      if (!stream.writableFinished && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
    });
    stream.on('error', (err) => {
      this.failure ??= this.streamError(err);
    });
    this.done = new Promise<void>((resolve, reject) => {
      stream.on('close', () => {
        const err = this.finish();
        this.ended = true;
        this.wake();
        if (err) reject(err);
        else resolve();
      });
    });
    // A caller that only iterates learns the failure from the iterator; avoid an unhandled rejection.
    this.done.catch(() => undefined);
    if (signal) {
      const onAbort = (): void => {
        this.failure ??= new SessionCanceledError({
          operation: `${method} on session ${sessionId}`,
          cause: signal.reason,
        });
        this.cancel();
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        stream.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
  }

  /** Sends one message; resolves when the stream can take more (waits for `drain`). */
  send(message: Uint8Array): Promise<void> {
    if (this.stream.destroyed || this.stream.writableEnded) {
      return Promise.reject(this.failure ?? this.finish() ?? this.endedError());
    }
    this.stream.cork();
    this.stream.write(frameHeader(message.length));
    const ok = this.stream.write(message);
    this.stream.uncork();
    if (ok) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        this.stream.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.stream.off('drain', onDrain);
        reject(this.failure ?? this.finish() ?? this.endedError());
      };
      this.stream.once('drain', onDrain);
      this.stream.once('close', onClose);
    });
  }

  /** Half-closes the request side: the client sees end of stream. */
  end(): void {
    if (!this.stream.writableEnded && !this.stream.destroyed) this.stream.end();
  }

  /** Abandons the call (RST_STREAM CANCEL). */
  cancel(): void {
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_CANCEL);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const next = this.queue.shift();
      if (next) {
        if (this.queue.length < HIGH_WATER_MESSAGES / 2 && this.stream.isPaused()) this.stream.resume();
        yield next;
        continue;
      }
      if (this.ended) {
        await this.done;
        return;
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }

  private onHeaders(headers: IncomingHttpHeaders): void {
    const status = headers[':status'];
    if (status !== undefined && Number(status) !== 200) {
      this.failure ??= this.callError(14, `HTTP status ${status} from the client`);
    }
    const code = headers['grpc-status'];
    if (code !== undefined) {
      this.status = { code: Number(code), message: decodeGrpcMessage(headers['grpc-message']) };
    }
  }

  private onData(chunk: Buffer): void {
    try {
      this.decoder.push(chunk, (message) => this.queue.push(message));
    } catch (err) {
      this.failure ??= this.callError(13, (err as Error).message, err);
      this.cancel();
      return;
    }
    if (this.queue.length >= HIGH_WATER_MESSAGES) this.stream.pause();
    this.wake();
  }

  /** The error this call ended with, or undefined for status OK. */
  private finish(): Error | undefined {
    if (this.failure) return this.failure;
    if (this.status) {
      if (this.status.code === 0) return undefined;
      return this.callError(this.status.code, this.status.message);
    }
    if (this.sessionEnded()) return this.endedError();
    const rst = this.stream.rstCode;
    if (rst === constants.NGHTTP2_CANCEL) return this.callError(1, 'stream canceled by the client');
    return this.callError(14, `stream closed without gRPC status (HTTP/2 code ${rst ?? 'none'})`);
  }

  private streamError(err: Error): Error {
    if (this.sessionEnded()) return this.endedError(err);
    return this.callError(14, err.message, err);
  }

  private endedError(cause?: unknown): Error {
    return new SessionEndedError({ sessionId: this.sessionId, cause });
  }

  private callError(code: number, message: string, cause?: unknown): Error {
    return new SessionCallError({
      sessionId: this.sessionId,
      method: this.method,
      grpcCode: code,
      grpcMessage: message,
      cause,
    });
  }
}
