import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Digester, type Descriptor } from '../oci/index.js';
import { RegistryContentMismatchError, RegistryProtocolError, RegistryUnavailableError } from './errors.js';
import type { Endpoint } from './hosts.js';
import {
  authContext,
  pullScope,
  tryEndpoints,
  type RegistryContext,
  type Repository,
} from './registry-context.js';
import type { RegistryRequest } from './transport.js';
import type { RegistryResponse } from './response.js';

export interface FetchBlobOptions {
  /**
   * Start at this byte. The digest can then not be checked here (only the size); the consumer
   * must verify the whole blob, as a content store writer does.
   */
  readonly offset?: number;
  readonly signal?: AbortSignal;
  /** Called after each chunk with the absolute offset reached. */
  readonly onProgress?: (offset: number) => void;
  /** How many times a dropped connection is resumed with `Range` (default 5). */
  readonly maxResumes?: number;
  /**
   * Check the digest here (default true). A consumer that verifies anyway (a content writer with
   * an expected digest) passes false: hashing 100 MB twice costs ~0.2 s of event-loop time.
   * The size is checked either way.
   */
  readonly verify?: boolean;
}

/**
 * A blob's bytes as a stream. Nothing is requested until the stream is read. A connection lost or
 * silent mid-body is resumed with `Range: bytes=<received>-` on the same endpoint (a registry that
 * ignores Range and answers 200 has the received prefix skipped). The stream errors with
 * RegistryContentMismatchError instead of ending when the size or digest is wrong, so a consumer
 * never sees a clean end for bad content. Destroying the stream cancels the request.
 */
export function fetchBlob(
  rc: RegistryContext,
  repo: Repository,
  descriptor: Descriptor,
  options: FetchBlobOptions = {},
): Readable {
  return Readable.from(blobChunks(rc, repo, descriptor, options), { objectMode: false });
}

async function* blobChunks(
  rc: RegistryContext,
  repo: Repository,
  descriptor: Descriptor,
  options: FetchBlobOptions,
): AsyncGenerator<Uint8Array> {
  const ctx = authContext('pull', repo);
  const { signal } = options;
  let received = options.offset ?? 0;
  const digester = received === 0 && options.verify !== false ? new Digester() : undefined;
  const maxResumes = options.maxResumes ?? 5;
  const mismatch = (detail: string, url?: string): RegistryContentMismatchError =>
    new RegistryContentMismatchError({ ...ctx, url, detail: `blob ${descriptor.digest} ${detail}` });

  const open = async (endpoint: Endpoint): Promise<{ res: RegistryResponse; req: RegistryRequest }> => {
    const req: RegistryRequest = {
      method: 'GET',
      url: `${endpoint.base}/${repo.path}/blobs/${descriptor.digest}`,
      endpoint,
      scopes: [pullScope(repo)],
      ctx,
      headers: received > 0 ? { Range: `bytes=${received}-` } : {},
      signal,
    };
    const res = await rc.transport.send(req);
    if (res.status !== 200 && res.status !== 206)
      return rc.transport.fail(res, req, `blob ${descriptor.digest}`);
    return { res, req };
  };

  let endpoint: Endpoint | undefined;
  for (let resumes = 0; ;) {
    let opened: { res: RegistryResponse; req: RegistryRequest };
    if (endpoint) {
      opened = await open(endpoint);
    } else {
      [endpoint, opened] = await tryEndpoints(
        rc,
        repo,
        'pull',
        signal,
        async (e) => [e, await open(e)] as const,
      );
    }
    const { res, req } = opened;
    let skip = 0;
    if (res.status === 206) {
      const start = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
      if (!Number.isInteger(start) || start > received) {
        await res.discard();
        throw new RegistryProtocolError({
          ...ctx,
          url: req.url,
          detail: `range response does not start at ${received}`,
        });
      }
      skip = received - start;
    } else {
      skip = received;
    }
    try {
      for await (let chunk of res.chunks()) {
        if (skip > 0) {
          if (chunk.byteLength <= skip) {
            skip -= chunk.byteLength;
            continue;
          }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        received += chunk.byteLength;
        if (received > descriptor.size) throw mismatch(`is longer than ${descriptor.size} bytes`, req.url);
        digester?.update(chunk);
        options.onProgress?.(received);
        yield chunk;
      }
    } catch (error) {
      if (!(error instanceof RegistryUnavailableError) || resumes >= maxResumes) throw error;
      resumes++;
      rc.logger?.info(
        { digest: descriptor.digest, offset: received, attempt: resumes },
        'resuming blob download',
      );
      await sleep(Math.min(2000, 100 * 2 ** resumes), undefined, { signal });
      continue;
    }
    if (received === descriptor.size) break;
    if (resumes >= maxResumes) {
      throw mismatch(`ended after ${received} of ${descriptor.size} bytes`, req.url);
    }
    resumes++;
  }
  if (digester && digester.digest() !== descriptor.digest) {
    throw mismatch(`arrived with digest ${digester.digest()}`);
  }
}
