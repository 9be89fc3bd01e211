import type { Readable } from 'node:stream';
import { sha256, type Descriptor, type Digest } from '../oci/index.js';
import type { ContentProvider, ContentWriter, Ingester } from './content.js';
import { DigestMismatchError } from './errors.js';

/** Whether an error says the content is already there, recognised by shape so any Ingester works. */
export function isAlreadyExists(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && (error as { kind?: unknown }).kind === 'already-exists'
  );
}

/** Reads a whole blob into memory; for manifests and configs, not layers. Throws not-found when absent. */
export async function readBlob(
  provider: ContentProvider,
  digest: Digest,
  options: { signal?: AbortSignal } = {},
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await provider.reader(digest, options)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface WriteBlobOptions {
  /** Digest the data must have: a mismatch throws DigestMismatchError before anything is written. */
  readonly expected?: Digest;
  /** Media type for the returned descriptor (default `application/octet-stream`). */
  readonly mediaType?: string;
  /** Writer ref (default derived from the digest, so concurrent writes of the same data serialise). */
  readonly ref?: string;
  readonly lease?: string;
  readonly labels?: Record<string, string>;
  readonly signal?: AbortSignal;
}

/** Stores bytes held in memory and describes them; succeeds when the blob already exists. */
export async function writeBlob(
  ingester: Ingester,
  data: Uint8Array,
  options: WriteBlobOptions = {},
): Promise<Descriptor> {
  const digest = sha256(data);
  const ref = options.ref ?? `write-${digest}`;
  if (options.expected !== undefined && options.expected !== digest) {
    throw new DigestMismatchError({ ref, expected: options.expected, actual: digest });
  }
  const descriptor: Descriptor = {
    mediaType: options.mediaType ?? 'application/octet-stream',
    digest,
    size: data.byteLength,
  };
  let writer: ContentWriter;
  try {
    writer = await ingester.writer({
      ref,
      expected: digest,
      total: data.byteLength,
      lease: options.lease,
      signal: options.signal,
    });
  } catch (error) {
    if (isAlreadyExists(error)) return descriptor;
    throw error;
  }
  try {
    await writer.write(data);
    await writer.commit({ labels: options.labels });
  } finally {
    await writer.abort();
  }
  return descriptor;
}

export interface CopyStreamOptions {
  /** Writer ref; use one derived from the digest when fetching, so concurrent fetches share one. */
  readonly ref: string;
  readonly expected?: Digest;
  readonly total?: number;
  readonly lease?: string;
  readonly labels?: Record<string, string>;
  readonly signal?: AbortSignal;
  /** Called after each chunk with the bytes written so far. */
  readonly onProgress?: (offset: number) => void;
}

export interface CopyResult {
  readonly digest: Digest;
  /** Bytes stored; undefined only when the blob already existed and no `total` was given. */
  readonly size: number | undefined;
  /** True when the store already had the blob and the stream was not read. */
  readonly existed: boolean;
}

/**
 * Copies a stream into the store, verified against `expected` and `total` at commit. When the
 * blob is already there the stream is destroyed unread. On any failure (including the signal) the
 * write is aborted, nothing is kept, and the stream is destroyed.
 */
export async function copyStream(
  ingester: Ingester,
  readable: Readable,
  options: CopyStreamOptions,
): Promise<CopyResult> {
  let writer: ContentWriter;
  try {
    writer = await ingester.writer({
      ref: options.ref,
      expected: options.expected,
      total: options.total,
      lease: options.lease,
      signal: options.signal,
    });
  } catch (error) {
    readable.destroy();
    if (isAlreadyExists(error) && options.expected !== undefined) {
      return { digest: options.expected, size: options.total, existed: true };
    }
    throw error;
  }
  try {
    for await (const chunk of readable) {
      options.signal?.throwIfAborted();
      await writer.write(chunk as Uint8Array);
      options.onProgress?.(writer.offset);
    }
    const info = await writer.commit({ labels: options.labels });
    return { digest: info.digest, size: info.size, existed: false };
  } finally {
    readable.destroy();
    await writer.abort();
  }
}
