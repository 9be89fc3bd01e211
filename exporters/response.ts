import type { Descriptor, Digest } from '../oci/index.js';
import { descriptorJson, goJson, sorted } from './go-json.js';

/** Frontend attributes BuildKit keeps in build info besides `build-arg:`, `label:` and `vcs:` ones. */
const knownAttrs = new Set(['context', 'filename', 'source', 'shm-size', 'target', 'ulimit']);

/**
 * The exporter response of an image-like output (`image`, `oci`, `docker`), as buildctl's
 * `--metadata-file` reads it: the top-level digest, the config digest (single-platform images
 * only), the base64 JSON descriptor, and the names.
 */
export function imageResponse(
  descriptor: Descriptor,
  configDigest: Digest | undefined,
  names: readonly string[],
): Record<string, string> {
  return {
    'containerimage.digest': descriptor.digest,
    ...(configDigest ? { 'containerimage.config.digest': configDigest } : {}),
    'containerimage.descriptor': Buffer.from(goJson(descriptorJson(descriptor))).toString('base64'),
    ...(names.length > 0 ? { 'image.name': names.join(',') } : {}),
  };
}

/**
 * `containerimage.buildinfo` (deprecated in BuildKit, still read by some CI): the frontend and
 * the attributes that describe the build. Sources are not known to exporters, so they are left
 * out. Undefined when there is nothing to say.
 */
export function buildInfo(
  frontend: string,
  frontendAttrs: Readonly<Record<string, string>>,
): string | undefined {
  const attrs: Record<string, string> = {};
  for (const [key, value] of Object.entries(frontendAttrs)) {
    if (/^(build-arg|label|vcs):/.test(key) || knownAttrs.has(key)) attrs[key] = value;
  }
  const kept = sorted(attrs);
  if (!frontend && !kept) return undefined;
  return Buffer.from(
    goJson({ ...(frontend ? { frontend } : {}), ...(kept ? { attrs: kept } : {}) }),
  ).toString('base64');
}
