import {
  MediaType,
  isDigest,
  isIndexMediaType,
  isManifestMediaType,
  sha256,
  type Descriptor,
  type Digest,
  type ImageIndex,
  type ImageManifest,
} from '../oci/index.js';
import type { AuthContext } from './authorizer.js';
import { RegistryContentMismatchError, RegistryProtocolError } from './errors.js';
import type { Endpoint } from './hosts.js';
import { authContext, pullScope, type RegistryContext, type Repository } from './registry-context.js';

/** Manifests and indexes are small; anything larger is refused rather than buffered. */
export const manifestLimit = 4 * 1024 * 1024;

/** What kiln accepts for a manifest GET: indexes and manifests in both flavours, then anything. */
export const manifestAccept = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
  '*/*',
].join(', ');

/** A manifest or index exactly as the registry sent it, with its descriptor. */
export interface FetchedManifest {
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
}

/**
 * The media type of manifest bytes: their own `mediaType` field, else a specific Content-Type,
 * else guessed from the shape (`manifests` → index, `config`/`layers` → manifest).
 */
export function detectMediaType(bytes: Uint8Array, contentType?: string | null): string {
  const declared = contentType?.split(';')[0]?.trim();
  let parsed: { mediaType?: unknown; manifests?: unknown; layers?: unknown; config?: unknown } = {};
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof parsed;
  } catch {
    return declared || 'application/octet-stream';
  }
  if (typeof parsed.mediaType === 'string' && parsed.mediaType) return parsed.mediaType;
  if (declared && declared !== 'application/json' && declared !== 'application/octet-stream') return declared;
  if (Array.isArray(parsed.manifests)) return MediaType.ociIndex;
  if (parsed.config !== undefined || Array.isArray(parsed.layers)) return MediaType.ociManifest;
  return declared || 'application/json';
}

/** Parses an image manifest, checking the fields kiln relies on. */
export function parseManifest(bytes: Uint8Array, ctx: AuthContext, what: string): ImageManifest {
  const value = parseJson(bytes, ctx, what) as Omit<Partial<ImageManifest>, 'schemaVersion'> & {
    schemaVersion?: number;
  };
  if (value.schemaVersion === 1) {
    throw new RegistryProtocolError({
      ...ctx,
      detail: `${what} is a Docker schema 1 manifest, which kiln does not support`,
    });
  }
  if (!value.config || !isDigest(String(value.config.digest)) || !Array.isArray(value.layers)) {
    throw new RegistryProtocolError({
      ...ctx,
      detail: `${what} is not an image manifest (config and layers expected)`,
    });
  }
  for (const layer of value.layers) {
    if (!isDigest(String(layer.digest)) || typeof layer.size !== 'number') {
      throw new RegistryProtocolError({
        ...ctx,
        detail: `${what} has a layer without a valid digest and size`,
      });
    }
  }
  return value as unknown as ImageManifest;
}

/** Parses an image index, checking the fields kiln relies on. */
export function parseIndex(bytes: Uint8Array, ctx: AuthContext, what: string): ImageIndex {
  const value = parseJson(bytes, ctx, what) as Partial<ImageIndex>;
  if (!Array.isArray(value.manifests) || value.manifests.some((m) => !isDigest(String(m.digest)))) {
    throw new RegistryProtocolError({ ...ctx, detail: `${what} is not an image index (manifests expected)` });
  }
  return value as ImageIndex;
}

function parseJson(bytes: Uint8Array, ctx: AuthContext, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new RegistryProtocolError({ ...ctx, detail: `${what} is not valid JSON`, cause: error });
  }
}

export function isIndex(descriptor: Descriptor): boolean {
  return isIndexMediaType(descriptor.mediaType);
}

export function isManifest(descriptor: Descriptor): boolean {
  return isManifestMediaType(descriptor.mediaType);
}

/**
 * GETs a manifest or index by tag or digest from one endpoint, keeping the exact bytes. Verifies
 * them against the digest asked for, and against `Docker-Content-Digest` when the registry sends it.
 */
export async function getManifest(
  rc: RegistryContext,
  endpoint: Endpoint,
  repo: Repository,
  reference: string,
  options: { operation: 'resolve' | 'pull'; signal?: AbortSignal },
): Promise<FetchedManifest> {
  const ctx = authContext(options.operation, repo);
  const req = {
    method: 'GET' as const,
    url: `${endpoint.base}/${repo.path}/manifests/${reference}`,
    endpoint,
    scopes: [pullScope(repo)],
    ctx,
    headers: { Accept: manifestAccept },
    signal: options.signal,
  };
  const res = await rc.transport.send(req);
  if (res.status !== 200) return rc.transport.fail(res, req, `manifest ${reference}`);
  const bytes = await res.bytes(manifestLimit);
  const digest = sha256(bytes);
  const announced = res.headers.get('docker-content-digest');
  const expected: Digest | undefined = isDigest(reference)
    ? reference
    : announced && isDigest(announced)
      ? announced
      : undefined;
  if (expected && expected !== digest) {
    throw new RegistryContentMismatchError({
      ...ctx,
      url: req.url,
      detail: `manifest ${reference} has digest ${digest}, expected ${expected}`,
    });
  }
  const mediaType = detectMediaType(bytes, res.headers.get('content-type'));
  return { descriptor: { mediaType, digest, size: bytes.length }, bytes };
}
