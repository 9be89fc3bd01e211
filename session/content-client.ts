import { Readable } from 'node:stream';
import { Content } from '../proto/gen/containerd/services/content/v1/content_pb.js';
import type { Session } from './session.js';

/** The metadata key that selects one of the client's content stores. */
export const contentStoreIdKey = 'buildkit-attachable-store-id';

/** What the client's store says about one blob. */
export interface ClientContentInfo {
  readonly digest: string;
  readonly size: number;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Reads from a content store the client serves over the session (containerd's `Content`
 * service). buildctl serves one per `--export-cache type=local,dest=D` / `--import-cache
 * type=local,src=S` (store id `local:<dir as typed>`), and `export` for `oci,tar=false` outputs.
 * Writes go through exporters' ClientContentStore. Lifecycle: as long as the session; cheap to
 * create. Errors are the session's: SessionCallError with kind `not-found` for a blob the store
 * does not hold, MethodNotSupportedError when the client serves no content store, SessionEndedError.
 */
export class ContentClient {
  readonly #session: Session;
  readonly #storeId: string;

  constructor(options: { session: Session; storeId: string }) {
    this.#session = options.session;
    this.#storeId = options.storeId;
  }

  get storeId(): string {
    return this.#storeId;
  }

  /** The blob's size and labels. Cost: one round trip. */
  async info(digest: string, options: { signal?: AbortSignal } = {}): Promise<ClientContentInfo> {
    const response = await this.#session.unary(
      Content.method.info,
      { digest },
      {
        metadata: { [contentStoreIdKey]: this.#storeId },
        ...(options.signal ? { signal: options.signal } : {}),
      },
    );
    const info = response.info;
    return { digest: info?.digest ?? digest, size: Number(info?.size ?? 0n), labels: { ...info?.labels } };
  }

  /**
   * The blob's bytes from `offset` as a stream; the request is sent when reading starts and
   * destroying the stream cancels it. The stream errors with the session's error (not-found for
   * an absent blob). Bytes are not verified here: the consumer checks the digest (a content
   * store writer does).
   */
  reader(digest: string, options: { offset?: number; signal?: AbortSignal } = {}): Readable {
    const session = this.#session;
    const metadata = { [contentStoreIdKey]: this.#storeId };
    const offset = BigInt(options.offset ?? 0);
    const signal = options.signal;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      const call = session.bidi(Content.method.read, { metadata, ...(signal ? { signal } : {}) });
      let finished = false;
      try {
        await call.send({ digest, offset });
        call.end();
        for await (const message of call) {
          if (message.data.length > 0) yield message.data;
        }
        finished = true;
      } finally {
        if (!finished) call.cancel();
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  /** Whether the store holds the blob (a not-found answer is false; other failures throw). */
  async has(digest: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    try {
      await this.info(digest, options);
      return true;
    } catch (error) {
      if ((error as { kind?: unknown }).kind === 'not-found') return false;
      throw error;
    }
  }
}
