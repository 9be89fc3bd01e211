import { type SourceLocation, type State, image, scratch } from '../../../llb/index.js';
import {
  type Digest,
  type ImageConfig,
  type Platform,
  formatReference,
  isDigest,
  parseReference,
} from '../../../oci/index.js';

/**
 * The reference a FROM line is pinned to: the name as written (normalised, the tag only if one
 * was written) with the resolved digest, as BuildKit's `reference.WithDigest` prints it
 * (`docker.io/library/busybox@sha256:…`, `127.0.0.1:5000/x:1.0@sha256:…`). Without a digest, the
 * normalised name with its tag (`…:latest` by default).
 */
export function pinnedReference(name: string, digest: string): string {
  const ref = parseReference(name);
  if (!digest || !isDigest(digest)) return formatReference(ref);
  const bare = name.includes('@') ? name.slice(0, name.indexOf('@')) : name;
  const tagged = bare.lastIndexOf(':') > bare.lastIndexOf('/');
  const { tag, ...rest } = ref;
  return formatReference({
    ...rest,
    ...(tagged && tag !== undefined ? { tag } : {}),
    digest: digest as Digest,
  });
}

/** An image config without layers (and no history entry with one): BuildKit starts from scratch. */
export function hasNoLayers(config: ImageConfig): boolean {
  return (config.rootfs?.diff_ids ?? []).length === 0 && (config.history ?? []).every((h) => h.empty_layer);
}

/** containerd-style choice of platform for an image whose config names another one. */
export function detectPlatform(
  config: ImageConfig,
  wanted: Platform,
  supported: readonly Platform[],
): Platform {
  if (wanted.os === config.os && wanted.architecture === config.architecture) return wanted;
  return supported.find((p) => p.os === config.os && p.architecture === config.architecture) ?? wanted;
}

/** The source op of a resolved image, or scratch for an image without layers. */
export function imageSource(opts: {
  name: string;
  digest: string;
  config: ImageConfig;
  platform: Platform;
  resolveMode: 'default' | 'pull' | 'local' | undefined;
  customName: (pinned: string) => string;
  code: string;
  sourceLocations: readonly SourceLocation[];
}): State {
  if (hasNoLayers(opts.config)) return scratch();
  const pinned = pinnedReference(opts.name, opts.digest);
  return image(pinned, {
    platform: opts.platform,
    ...(opts.resolveMode ? { resolveMode: opts.resolveMode } : {}),
    customName: opts.customName(pinned),
    description: { 'com.docker.dockerfile.v1.command': opts.code },
    sourceLocations: opts.sourceLocations,
  });
}
