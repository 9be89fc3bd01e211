import { addAbortListener } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Digester, type Digest } from '../oci/index.js';
import type { ContentInfo, ContentWriter } from './content.js';
import { ContentWriteError, DigestMismatchError, SizeMismatchError, WriterClosedError } from './errors.js';

/** What the store hands a writer: where it writes, and how to publish or give up its ref. */
export interface LocalWriterOptions {
  readonly ref: string;
  readonly path: string;
  readonly handle: FileHandle;
  readonly expected?: Digest;
  readonly total?: number;
  readonly signal?: AbortSignal;
  /** Moves the verified temp file into place and records it; called at most once. */
  readonly publish: (blob: {
    digest: Digest;
    size: number;
    path: string;
    labels?: Record<string, string>;
  }) => Promise<ContentInfo>;
  /** Gives the ref up; called exactly once, after commit or abort. */
  readonly release: () => void;
}

/** A write into `<root>/ingest/<random>`, verified and renamed into `blobs/` by commit. */
export class LocalWriter implements ContentWriter {
  readonly #options: LocalWriterOptions;
  readonly #digester = new Digester();
  #state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  #pending: Promise<unknown> = Promise.resolve();
  /** Settles when a commit or abort has finished cleaning up. */
  #closing: Promise<unknown> = Promise.resolve();
  readonly #abortListener: Disposable | undefined;

  constructor(options: LocalWriterOptions) {
    this.#options = options;
    // A writer whose caller was cancelled must not keep its temp file or its ref.
    this.#abortListener = options.signal
      ? addAbortListener(options.signal, () => void this.abort())
      : undefined;
  }

  get offset(): number {
    return this.#digester.size;
  }

  digest(): Digest {
    return this.#digester.digest();
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#assertOpen();
    this.#options.signal?.throwIfAborted();
    const { total, ref } = this.#options;
    if (total !== undefined && this.offset + chunk.byteLength > total) {
      const actual = this.offset + chunk.byteLength;
      await this.abort();
      throw new SizeMismatchError({ ref, expected: total, actual });
    }
    const done = this.#pending.then(async () => {
      let written = 0;
      while (written < chunk.byteLength) {
        const { bytesWritten } = await this.#options.handle.write(chunk, written, chunk.byteLength - written);
        written += bytesWritten;
      }
    });
    this.#pending = done.catch(() => undefined);
    this.#digester.update(chunk);
    try {
      await done;
    } catch (cause) {
      // A full disk must not leave a partial temp file taking the space, nor a bare ENOSPC.
      await this.abort();
      throw new ContentWriteError({
        ref,
        store: dirname(dirname(this.#options.path)),
        offset: this.offset - chunk.byteLength,
        cause,
      });
    }
  }

  async commit(
    options: { size?: number; expected?: Digest; labels?: Record<string, string> } = {},
  ): Promise<ContentInfo> {
    this.#assertOpen();
    this.#state = 'committing';
    const done = this.#commit(options);
    this.#closing = done;
    return done;
  }

  async #commit(options: {
    size?: number;
    expected?: Digest;
    labels?: Record<string, string>;
  }): Promise<ContentInfo> {
    const { ref, handle, path } = this.#options;
    try {
      await this.#pending;
      await handle.sync();
      await handle.close();
      const size = options.size ?? this.#options.total;
      if (size !== undefined && size !== this.offset) {
        throw new SizeMismatchError({ ref, expected: size, actual: this.offset });
      }
      const actual = this.digest();
      const expected = options.expected ?? this.#options.expected;
      if (expected !== undefined && expected !== actual) {
        throw new DigestMismatchError({ ref, expected, actual });
      }
      const info = await this.#options.publish({
        digest: actual,
        size: this.offset,
        path,
        labels: options.labels,
      });
      this.#state = 'committed';
      return info;
    } catch (error) {
      this.#state = 'aborted';
      await rm(path, { force: true });
      throw error;
    } finally {
      if (this.#state === 'committed' || this.#state === 'aborted') this.#finish();
    }
  }

  /** Idempotent; every call resolves only once the temp file is gone (or the commit settled). */
  abort(): Promise<void> {
    if (this.#state === 'open') {
      this.#state = 'aborted';
      this.#closing = (async () => {
        try {
          await this.#pending;
          await this.#options.handle.close().catch(() => undefined);
          await rm(this.#options.path, { force: true });
        } finally {
          this.#finish();
        }
      })();
    }
    return this.#closing.then(
      () => undefined,
      () => undefined,
    );
  }

  #finish(): void {
    this.#abortListener?.[Symbol.dispose]();
    this.#options.release();
  }

  #assertOpen(): void {
    if (this.#state === 'open') return;
    throw new WriterClosedError({
      ref: this.#options.ref,
      state: this.#state === 'committed' || this.#state === 'committing' ? 'committed' : 'aborted',
    });
  }
}
