import type { AuthContext } from './authorizer.js';
import { RegistryProtocolError, RegistryUnavailableError, describeCause } from './errors.js';

/**
 * A registry response whose body is read with an idle timeout: a body that stays silent for
 * `idleMs` is aborted and reported as unavailable, as is a connection lost mid-body, so readers
 * can tell "try again / resume" (RegistryUnavailableError) from "the caller cancelled" (the
 * signal's reason).
 */
export class RegistryResponse {
  readonly #response: Response;
  readonly #url: string;
  readonly #abort: (reason: unknown) => void;
  readonly #idleMs: number;
  readonly #callerSignal: AbortSignal | undefined;
  readonly #ctx: AuthContext;

  constructor(options: {
    response: Response;
    /** The final URL (after redirects). */
    url: string;
    abort: (reason: unknown) => void;
    idleMs: number;
    callerSignal?: AbortSignal;
    ctx: AuthContext;
  }) {
    this.#response = options.response;
    this.#url = options.url;
    this.#abort = options.abort;
    this.#idleMs = options.idleMs;
    this.#callerSignal = options.callerSignal;
    this.#ctx = options.ctx;
  }

  get status(): number {
    return this.#response.status;
  }

  get headers(): Headers {
    return this.#response.headers;
  }

  /** The final URL (after redirects). */
  get url(): string {
    return this.#url;
  }

  /** The body's chunks. Throws RegistryUnavailableError on silence or a lost connection. */
  async *chunks(): AsyncGenerator<Uint8Array> {
    const body = this.#response.body;
    if (!body) return;
    const reader = body.getReader();
    let idle = false;
    try {
      for (;;) {
        const timer = setTimeout(() => {
          idle = true;
          this.#abort(new Error('idle'));
        }, this.#idleMs);
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch (error) {
          this.#callerSignal?.throwIfAborted();
          throw new RegistryUnavailableError({
            ...this.#ctx,
            url: this.url,
            detail: idle ? `no data for ${this.#idleMs} ms` : `connection lost: ${describeCause(error)}`,
            cause: error,
          });
        } finally {
          clearTimeout(timer);
        }
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  /** The whole body, refusing more than `limit` bytes (manifests, token responses, errors). */
  async bytes(limit: number): Promise<Buffer> {
    const parts: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of this.chunks()) {
      size += chunk.byteLength;
      if (size > limit) {
        throw new RegistryProtocolError({
          ...this.#ctx,
          url: this.url,
          detail: `response body exceeds the ${limit.toLocaleString('en-US')} byte limit`,
        });
      }
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }

  /** Releases the connection without reading the body. */
  async discard(): Promise<void> {
    await this.#response.body?.cancel().catch(() => undefined);
  }

  /** The registry's `errors[].message (CODE)`, or the body's first line; undefined when empty. */
  async registryMessage(): Promise<string | undefined> {
    let text: string;
    try {
      text = (await this.bytes(64 * 1024)).toString('utf8').trim();
    } catch {
      return undefined;
    }
    if (!text) return undefined;
    try {
      const parsed = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
      const first = parsed.errors?.[0];
      if (first) return [first.message, first.code ? `(${first.code})` : ''].filter(Boolean).join(' ');
    } catch {
      // not JSON: fall through to the text
    }
    return text.split('\n')[0]!.slice(0, 200);
  }
}
