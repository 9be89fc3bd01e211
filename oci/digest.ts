import { createHash, type Hash } from 'node:crypto';
import { OciFormatError } from './errors.js';

/** A content digest in canonical form, `sha256:` followed by 64 lowercase hex digits. */
export type Digest = string & { readonly __brand: 'Digest' };

const digestPattern = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): value is Digest {
  return digestPattern.test(value);
}

/** Validates and brands a digest string; only sha256 is accepted, as in every registry kiln talks to. */
export function parseDigest(value: string): Digest {
  if (!isDigest(value)) {
    throw new OciFormatError('digest', value, 'expected sha256: followed by 64 lowercase hex digits');
  }
  return value;
}

export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/** The hex part of a digest, as used in blob paths. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** Computes a digest incrementally over streamed bytes. */
export class Digester {
  readonly #hash: Hash = createHash('sha256');
  #size = 0;

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#size += chunk.byteLength;
  }

  get size(): number {
    return this.#size;
  }

  digest(): Digest {
    return `sha256:${this.#hash.copy().digest('hex')}` as Digest;
  }
}
