import { Readable } from 'node:stream';
import { sha256, type Descriptor, type Digest, type ImageReference } from '../oci/index.js';
import {
  RegistryContentMismatchError,
  RegistryNotFoundError,
  RegistryRejectedError,
  RegistryUnavailableError,
} from './errors.js';
import type { Endpoint } from './hosts.js';
import {
  authContext,
  pushScope,
  toRepository,
  tryEndpoints,
  type RegistryContext,
  type Repository,
} from './registry-context.js';
import type { RegistryRequest } from './transport.js';

/** Opens the blob's bytes from `offset` (called again to resume or to fall back to a single PUT). */
export type BlobOpener = (offset: number) => Readable | Promise<Readable>;

export type PushBlobResult = 'exists' | 'mounted' | 'uploaded';

export interface PushBlobOptions {
  /** Repositories on the same registry that may hold the blob, tried as cross-repository mounts. */
  readonly mountFrom?: ReadonlyArray<string | Repository>;
  readonly signal?: AbortSignal;
  /** Bytes accepted by the registry so far. */
  readonly onProgress?: (offset: number) => void;
}

/**
 * Upload tuning: blobs up to `singlePutMax` go in one PUT, larger ones in streamed PATCHes of up to
 * `chunkSize` bytes. Each PATCH is a round trip the registry finishes writing before the next may
 * start, so the default sends a layer in one.
 */
export interface UploadTuning {
  readonly chunkSize: number;
  readonly singlePutMax: number;
}

export const defaultUploadTuning: UploadTuning = {
  chunkSize: 1024 * 1024 * 1024,
  singlePutMax: 1024 * 1024,
};

/** Statuses with which a registry says "not like that" to a first PATCH: fall back to one PUT. */
const chunkRefusals = new Set([400, 404, 405, 406, 411, 413, 415, 416, 501]);

class ChunkedRefused extends Error {}

interface Upload {
  readonly rc: RegistryContext;
  readonly endpoint: Endpoint;
  readonly repo: Repository;
  readonly descriptor: Descriptor;
  readonly open: BlobOpener;
  readonly options: PushBlobOptions;
  readonly tuning: UploadTuning;
}

function lazyStream(open: BlobOpener, offset: number): Readable {
  return Readable.from(
    (async function* () {
      yield* await open(offset);
    })(),
    { objectMode: false },
  );
}

function request(
  u: Upload,
  method: RegistryRequest['method'],
  url: string,
  extra: Partial<RegistryRequest> = {},
) {
  const ctx = authContext('push', u.repo);
  const mounts = (u.options.mountFrom ?? []).map(toRepository).filter((r) => r.domain === u.repo.domain);
  const scopes = [pushScope(u.repo), ...mounts.map((r) => `repository:${r.path}:pull`)];
  return {
    method,
    url,
    endpoint: u.endpoint,
    scopes,
    ctx,
    signal: u.options.signal,
    ...extra,
  } as RegistryRequest;
}

function withDigestParam(location: string, digest: Digest): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

interface Session {
  readonly location: string;
  /** `OCI-Chunk-Min-Length`: the smallest PATCH the registry accepts. */
  readonly minChunk: number;
}

function session(location: string, url: string, headers: Headers): Session {
  return {
    location: new URL(location, url).toString(),
    minChunk: Number(headers.get('oci-chunk-min-length') ?? 0) || 0,
  };
}

/** Starts an upload session, or returns 'mounted' when a cross-repository mount made it needless. */
async function startUpload(u: Upload): Promise<Session | 'mounted'> {
  const base = `${u.endpoint.base}/${u.repo.path}/blobs/uploads/`;
  for (const from of (u.options.mountFrom ?? []).map(toRepository)) {
    if (from.domain !== u.repo.domain || from.path === u.repo.path) continue;
    const req = request(
      u,
      'POST',
      `${base}?mount=${encodeURIComponent(u.descriptor.digest)}&from=${encodeURIComponent(from.path)}`,
    );
    const res = await u.rc.transport.send(req);
    if (res.status === 201) {
      await res.discard();
      return 'mounted';
    }
    // 202: the registry could not mount and opened an ordinary upload instead.
    const location = res.headers.get('location');
    await res.discard();
    if (res.status === 202 && location) return session(location, req.url, res.headers);
  }
  const req = request(u, 'POST', base);
  const res = await u.rc.transport.send(req);
  const location = res.headers.get('location');
  if (res.status !== 202 || !location)
    return u.rc.transport.fail(res, req, `start upload of ${u.descriptor.digest}`);
  await res.discard();
  return session(location, req.url, res.headers);
}

async function finish(u: Upload, req: RegistryRequest): Promise<void> {
  const res = await u.rc.transport.send(req);
  if (res.status !== 201) return u.rc.transport.fail(res, req, `upload of ${u.descriptor.digest}`);
  const stored = res.headers.get('docker-content-digest');
  await res.discard();
  if (stored && stored !== u.descriptor.digest) {
    throw new RegistryContentMismatchError({
      ...req.ctx,
      url: req.url,
      detail: `registry stored ${stored} for blob ${u.descriptor.digest}`,
    });
  }
  u.options.onProgress?.(u.descriptor.size);
}

/** The whole blob in one PUT (streamed, never buffered). */
async function putWhole(u: Upload, location: string): Promise<void> {
  await finish(
    u,
    request(u, 'PUT', withDigestParam(location, u.descriptor.digest), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': `${u.descriptor.size}` },
      body: u.descriptor.size === 0 ? new Uint8Array(0) : () => lazyStream(u.open, 0),
      retry: false,
    }),
  );
}

/** `length` bytes of the blob from `offset`, streamed (one PATCH body). */
function rangeStream(open: BlobOpener, offset: number, length: number): Readable {
  return Readable.from(
    (async function* () {
      const source = await open(offset);
      let left = length;
      try {
        for await (const data of source) {
          const buf = data as Buffer;
          yield buf.length <= left ? buf : buf.subarray(0, left);
          left -= Math.min(buf.length, left);
          if (left === 0) return;
        }
      } finally {
        source.destroy();
      }
    })(),
    { objectMode: false },
  );
}

/** Where the registry's upload stands: the next offset it expects, and the session URL. */
async function uploadStatus(u: Upload, location: string): Promise<{ offset: number; location: string }> {
  const req = request(u, 'GET', location);
  const res = await u.rc.transport.send(req);
  if (res.status !== 204) return u.rc.transport.fail(res, req, `upload status of ${u.descriptor.digest}`);
  await res.discard();
  const end = Number(/^(?:bytes=)?0-(\d+)$/.exec(res.headers.get('range') ?? '')?.[1] ?? -1);
  return { offset: end + 1, location: new URL(res.headers.get('location') ?? location, req.url).toString() };
}

/**
 * PATCHes of up to `chunkSize` bytes, each streamed from the blob; after a lost connection asks
 * where the upload stands and resumes there.
 */
async function putChunked(u: Upload, first: string, chunkSize: number): Promise<void> {
  let location = first;
  let offset = 0;
  for (let resumes = 0; ; resumes++) {
    try {
      while (offset < u.descriptor.size) {
        const length = Math.min(chunkSize, u.descriptor.size - offset);
        const from = offset;
        const req = request(u, 'PATCH', location, {
          headers: {
            'Content-Type': 'application/octet-stream',
            'Content-Range': `${from}-${from + length - 1}`,
            'Content-Length': `${length}`,
          },
          body: () => rangeStream(u.open, from, length),
          retry: false,
        });
        const res = await u.rc.transport.send(req);
        if (res.status !== 202) {
          if (offset === 0 && chunkRefusals.has(res.status)) {
            await res.discard();
            throw new ChunkedRefused();
          }
          return u.rc.transport.fail(res, req, `upload chunk at ${offset} of ${u.descriptor.digest}`);
        }
        await res.discard();
        location = new URL(res.headers.get('location') ?? location, req.url).toString();
        offset += length;
        u.options.onProgress?.(offset);
      }
      break;
    } catch (error) {
      if (!(error instanceof RegistryUnavailableError) || resumes >= 3) throw error;
      ({ offset, location } = await uploadStatus(u, location));
      u.rc.logger?.info({ digest: u.descriptor.digest, offset }, 'resuming chunked upload');
    }
  }
  await finish(
    u,
    request(u, 'PUT', withDigestParam(location, u.descriptor.digest), { body: new Uint8Array(0) }),
  );
}

/** How many times an upload whose session broke is started again from its first byte. */
const uploadRestarts = 2;

/**
 * Whether an upload failed in a way a new session can mend: the registry failed one of its
 * requests (5xx, 429, a lost connection), or forgot the session (404 on the session URL: after a
 * PATCH cut mid-body, docker-registry answers the status query so). Starting over is safe, as
 * nothing is stored under the digest until the final PUT succeeds.
 */
function sessionBroken(error: unknown): boolean {
  if (error instanceof RegistryUnavailableError) return true;
  return error instanceof RegistryNotFoundError && /\/blobs\/uploads\/[^/]+$/.test(error.url ?? '');
}

async function pushBlobTo(u: Upload): Promise<PushBlobResult> {
  const head = request(u, 'HEAD', `${u.endpoint.base}/${u.repo.path}/blobs/${u.descriptor.digest}`);
  const res = await u.rc.transport.send(head);
  await res.discard();
  if (res.status === 200) return 'exists';
  if (res.status !== 404) return u.rc.transport.fail(res, head, `check for blob ${u.descriptor.digest}`);
  for (let restarts = 0; ; restarts++) {
    try {
      return await upload(restarts === 0 ? u : { ...u, options: { ...u.options, mountFrom: [] } });
    } catch (error) {
      if (!sessionBroken(error) || restarts >= uploadRestarts) throw error;
      u.rc.logger?.info(
        { digest: u.descriptor.digest, why: (error as Error).message },
        'blob upload failed; starting it again',
      );
    }
  }
}

/** Starts an upload session and sends the blob through it (mounting it instead when possible). */
async function upload(u: Upload): Promise<PushBlobResult> {
  const started = await startUpload(u);
  if (started === 'mounted') return 'mounted';
  if (u.descriptor.size <= u.tuning.singlePutMax) {
    await putWhole(u, started.location);
    return 'uploaded';
  }
  try {
    await putChunked(u, started.location, Math.max(u.tuning.chunkSize, started.minChunk));
  } catch (error) {
    if (!(error instanceof ChunkedRefused)) throw error;
    u.rc.logger?.info({ digest: u.descriptor.digest }, 'registry refused chunked upload, sending one PUT');
    const fresh = await startUpload({ ...u, options: { ...u.options, mountFrom: [] } });
    if (fresh === 'mounted') return 'mounted';
    await putWhole(u, fresh.location);
  }
  return 'uploaded';
}

/**
 * Pushes one blob: nothing when the registry has it (HEAD), a cross-repository mount when one of
 * `mountFrom` has it, else an upload (one PUT for small blobs, chunked PATCHes for large ones
 * with a fallback to one PUT when the registry refuses chunks, resuming after a lost connection).
 */
export async function pushBlob(
  rc: RegistryContext,
  repo: Repository,
  descriptor: Descriptor,
  open: BlobOpener,
  options: PushBlobOptions,
  tuning: UploadTuning,
): Promise<PushBlobResult> {
  return tryEndpoints(rc, repo, 'push', options.signal, (endpoint) =>
    pushBlobTo({ rc, endpoint, repo, descriptor, open, options, tuning }),
  );
}

/**
 * PUTs a manifest or index under the reference's tag (or its digest, when untagged) and returns
 * its digest, checked against what the registry reports.
 */
export async function pushManifest(
  rc: RegistryContext,
  ref: ImageReference,
  mediaType: string,
  bytes: Uint8Array,
  options: { signal?: AbortSignal } = {},
): Promise<Digest> {
  const repo = toRepository(ref);
  const digest = sha256(bytes);
  if (ref.digest && ref.digest !== digest) {
    throw new RegistryRejectedError({
      ...authContext('push', repo),
      detail: `manifest bytes have digest ${digest}, but the reference names ${ref.digest}`,
    });
  }
  const target = ref.tag ?? digest;
  return tryEndpoints(rc, repo, 'push', options.signal, async (endpoint) => {
    const req: RegistryRequest = {
      method: 'PUT',
      url: `${endpoint.base}/${repo.path}/manifests/${target}`,
      endpoint,
      scopes: [pushScope(repo)],
      ctx: authContext('push', repo),
      headers: { 'Content-Type': mediaType },
      body: bytes,
      signal: options.signal,
    };
    const res = await rc.transport.send(req);
    if (res.status !== 201) return rc.transport.fail(res, req, `manifest ${target}`);
    const stored = res.headers.get('docker-content-digest');
    await res.discard();
    if (stored && stored !== digest) {
      throw new RegistryContentMismatchError({
        ...req.ctx,
        url: req.url,
        detail: `registry stored manifest ${target} as ${stored}, expected ${digest}`,
      });
    }
    return digest;
  });
}
