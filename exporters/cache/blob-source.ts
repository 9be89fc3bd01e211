import { Readable } from 'node:stream';
import { parseReference, sha256, type Descriptor, type Digest } from '../../oci/index.js';
import type { RegistryClient, Repository } from '../../registry/index.js';
import type { ContentClient } from '../../session/index.js';
import { CacheFormatError } from './errors.js';

/** Blobs above this size are never read whole into memory as manifests or configs. */
const smallBlobLimit = 16 << 20;

/**
 * Where an imported cache's blobs live: a registry repository, or the client's content store.
 * Reads are verified by the consumer (a content store writer, or `readSmall` here).
 */
export interface BlobSource {
  /** For messages: `registry host/repo:tag`, `client directory DIR`. */
  readonly name: string;
  /** The registry repository holding the blobs (usable as a cross-repository mount source). */
  readonly repository?: Repository;
  /** The blob's bytes from `offset`; nothing is requested until the stream is read. */
  open(descriptor: Descriptor, options?: { offset?: number; signal?: AbortSignal }): Readable;
  /** A small blob (manifest, config) read whole and checked against its digest. */
  readSmall(descriptor: Descriptor, signal?: AbortSignal): Promise<Buffer>;
  /** The top level the import names: a tag's manifest (registry) or the given digest (client). */
  top(signal?: AbortSignal): Promise<{ bytes: Buffer; mediaType: string }>;
}

async function readAll(stream: Readable, limit: number, what: string, source: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new CacheFormatError(source, `${what} is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function checked(bytes: Buffer, descriptor: Descriptor, source: string): Buffer {
  if (sha256(bytes) !== descriptor.digest) {
    throw new CacheFormatError(source, `blob ${descriptor.digest} has digest ${sha256(bytes)}`);
  }
  return bytes;
}

/** A cache in a registry repository (`--import-cache type=registry,ref=…`). */
export class RegistryBlobSource implements BlobSource {
  readonly name: string;
  readonly repository: Repository;
  readonly #client: RegistryClient;
  readonly #ref: string;

  constructor(options: { client: RegistryClient; ref: string }) {
    this.#client = options.client;
    this.#ref = options.ref;
    const parsed = parseReference(options.ref);
    this.repository = { domain: parsed.domain, path: parsed.path };
    this.name = `registry ${options.ref}`;
  }

  open(descriptor: Descriptor, options: { offset?: number; signal?: AbortSignal } = {}): Readable {
    return this.#client.fetchBlob(this.repository, descriptor, options);
  }

  async readSmall(descriptor: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    const what = `blob ${descriptor.digest}`;
    if (descriptor.mediaType.includes('manifest') || descriptor.mediaType.includes('index')) {
      const fetched = await this.#client.fetchManifest(
        this.repository,
        descriptor.digest,
        signal ? { signal } : {},
      );
      return checked(fetched.bytes, descriptor, this.name);
    }
    const bytes = await readAll(
      this.open(descriptor, signal ? { signal } : {}),
      smallBlobLimit,
      what,
      this.name,
    );
    return checked(bytes, descriptor, this.name);
  }

  async top(signal?: AbortSignal): Promise<{ bytes: Buffer; mediaType: string }> {
    const parsed = parseReference(this.#ref);
    const fetched = await this.#client.fetchManifest(
      this.repository,
      parsed.digest ?? parsed.tag ?? 'latest',
      signal ? { signal } : {},
    );
    return { bytes: fetched.bytes, mediaType: fetched.descriptor.mediaType };
  }
}

/** A cache in the client's directory, read through the session (`--import-cache type=local`). */
export class ClientBlobSource implements BlobSource {
  readonly name: string;
  readonly #client: Promise<ContentClient>;
  readonly #digest: string;

  /** `client` may still be on its way (the session arrives beside Solve): calls wait for it. */
  constructor(options: { client: ContentClient | Promise<ContentClient>; src: string; digest: string }) {
    this.#client = Promise.resolve(options.client);
    this.#client.catch(() => undefined);
    this.#digest = options.digest;
    this.name = `client directory ${options.src}`;
  }

  open(descriptor: Descriptor, options: { offset?: number; signal?: AbortSignal } = {}): Readable {
    const client = this.#client;
    return Readable.from(
      (async function* () {
        yield* (await client).reader(descriptor.digest, options);
      })(),
      { objectMode: false },
    );
  }

  async readSmall(descriptor: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    const bytes = await readAll(
      this.open(descriptor, signal ? { signal } : {}),
      smallBlobLimit,
      `blob ${descriptor.digest}`,
      this.name,
    );
    return checked(bytes, descriptor, this.name);
  }

  async top(signal?: AbortSignal): Promise<{ bytes: Buffer; mediaType: string }> {
    const info = await (await this.#client).info(this.#digest, signal ? { signal } : {});
    const descriptor: Descriptor = { mediaType: '', digest: this.#digest as Digest, size: info.size };
    return { bytes: await this.readSmall(descriptor, signal), mediaType: '' };
  }
}
