import { readBlob, writeBlob, type ContentProvider, type Ingester } from '../content/index.js';
import {
  formatPlatform,
  formatReference,
  withDigest,
  type Descriptor,
  type Digest,
  type ImageReference,
  type Platform,
} from '../oci/index.js';
import { NoMatchingPlatformError } from './errors.js';
import { detectMediaType, getManifest, isIndex, parseIndex } from './manifest.js';
import { availablePlatforms, selectManifest } from './platform-select.js';
import { authContext, toRepository, tryEndpoints, type RegistryContext } from './registry-context.js';
import type { Resolutions } from './resolutions.js';

/**
 * `default`: a reference pinned by digest whose content is in the store is used without asking
 * the registry; tags are always asked. `pull`: always ask the registry. `local`: use what this
 * reference resolved to before when its content is in the store, asking only when it is not.
 */
export type ResolveMode = 'default' | 'pull' | 'local';

/** The store resolve reads local content from and saves what it fetched into. */
export type ManifestStore = ContentProvider & Ingester;

export interface ResolveOptions {
  readonly mode?: ResolveMode;
  /** When set and the top level is an index, also select this platform's manifest. */
  readonly platform?: Platform;
  /** Where to look for local content and to save fetched bytes (required for local answers). */
  readonly store?: ManifestStore;
  /** Lease for what is saved into the store. */
  readonly lease?: string;
  readonly signal?: AbortSignal;
}

export interface Resolved {
  /** The reference with the resolved digest added. */
  readonly reference: ImageReference;
  /** What the reference names: an index or a manifest. */
  readonly descriptor: Descriptor;
  /** Its exact bytes. */
  readonly bytes: Buffer;
  readonly source: 'registry' | 'local';
  /** With `platform`, the index's entry for it (or the descriptor itself when it is a manifest). */
  readonly manifest?: Descriptor;
}

async function has(store: ContentProvider, digest: Digest): Promise<boolean> {
  return store.info(digest).then(
    () => true,
    () => false,
  );
}

export async function resolve(
  rc: RegistryContext,
  resolutions: Resolutions | undefined,
  ref: ImageReference,
  options: ResolveOptions = {},
  operation: 'resolve' | 'pull' = 'resolve',
): Promise<Resolved> {
  const repo = toRepository(ref);
  const mode = options.mode ?? 'default';
  const key = formatReference(ref);
  const { store, signal } = options;
  let resolved: Resolved | undefined;

  if (store && mode !== 'pull') {
    const remembered = resolutions?.get(key);
    const digest = ref.digest ?? (mode === 'local' ? remembered?.digest : undefined);
    if (digest && (await has(store, digest))) {
      const bytes = await readBlob(store, digest, { signal });
      const mediaType = remembered?.digest === digest ? remembered.mediaType : detectMediaType(bytes);
      resolved = {
        reference: withDigest(ref, digest),
        descriptor: { mediaType, digest, size: bytes.length },
        bytes,
        source: 'local',
      };
      if (options.lease)
        await writeBlob(store, bytes, { expected: digest, mediaType, lease: options.lease, signal });
      rc.logger?.debug({ reference: key, digest, mode }, 'resolved from local content');
    }
  }
  if (!resolved) {
    const fetched = await tryEndpoints(rc, repo, 'pull', signal, (endpoint) =>
      getManifest(rc, endpoint, repo, ref.digest ?? ref.tag ?? 'latest', { operation, signal }),
    );
    resolutions?.put(key, fetched.descriptor);
    if (store) {
      await writeBlob(store, fetched.bytes, {
        expected: fetched.descriptor.digest,
        mediaType: fetched.descriptor.mediaType,
        lease: options.lease,
        signal,
      });
    }
    resolved = {
      reference: withDigest(ref, fetched.descriptor.digest),
      descriptor: fetched.descriptor,
      bytes: fetched.bytes,
      source: 'registry',
    };
  }
  if (!options.platform) return resolved;
  return { ...resolved, manifest: pickPlatform(resolved, options.platform) };
}

/** The manifest for `platform` under a resolved top level; throws NoMatchingPlatformError. */
export function pickPlatform(resolved: Resolved, platform: Platform): Descriptor {
  if (!isIndex(resolved.descriptor)) return resolved.descriptor;
  const repo = toRepository(resolved.reference);
  const ctx = authContext('pull', repo);
  const index = parseIndex(resolved.bytes, ctx, `index ${resolved.descriptor.digest}`);
  const chosen = selectManifest(index, platform);
  if (!chosen) {
    throw new NoMatchingPlatformError({
      ...ctx,
      wanted: formatPlatform(platform),
      available: availablePlatforms(index),
    });
  }
  return chosen;
}
