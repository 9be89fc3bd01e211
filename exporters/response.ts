import type { Descriptor, Digest } from '../oci/index.js';
import { descriptorJson, goJson, sorted } from './go-json.js';

/** Frontend options BuildKit leaves out of build info and provenance as host-specific. */
const hostSpecific = new Set(['cgroup-parent', 'image-resolve-mode', 'platform', 'cache-imports']);

/** `scheme://user:password@host…` with user and password masked, as BuildKit's urlutil does. */
function redactCredentials(value: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i.exec(value);
  if (!m) return value;
  const [whole, scheme, userinfo] = m as unknown as [string, string, string];
  const colon = userinfo.indexOf(':');
  const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
  const masked = colon < 0 ? (user ? 'xxxxx' : '') : `${user ? 'xxxxx' : ''}:xxxxx`;
  return `${scheme}${masked}@${value.slice(whole.length)}`;
}

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
 * its options as BuildKit v0.11's solver answers them (host-specific and `attest:` options left
 * out, credentials in context URLs masked). Sources are not known to exporters, so they are left
 * out. Undefined when there is nothing to say.
 */
export function buildInfo(
  frontend: string,
  frontendAttrs: Readonly<Record<string, string>>,
): string | undefined {
  const attrs: Record<string, string> = {};
  const contextKey = frontendAttrs['contextkey'] || 'context';
  for (const [key, value] of Object.entries(frontendAttrs)) {
    if (hostSpecific.has(key) || key.startsWith('attest:')) continue;
    attrs[key] = key === contextKey || key.startsWith('context:') ? redactCredentials(value) : value;
  }
  const kept = sorted(attrs);
  if (!frontend && !kept) return undefined;
  return Buffer.from(
    goJson({ ...(frontend ? { frontend } : {}), ...(kept ? { attrs: kept } : {}) }),
  ).toString('base64');
}

/**
 * The build info part of an exporter response, which BuildKit v0.11 adds to every build's
 * response whatever the output: `containerimage.buildinfo` for a single result, one
 * `containerimage.buildinfo/<platform>` per platform of a multi-platform one.
 */
export function buildInfoResponse(
  info: string | undefined,
  platforms: readonly string[] | undefined,
): Record<string, string> {
  if (!info) return {};
  if (!platforms || platforms.length === 0) return { 'containerimage.buildinfo': info };
  return Object.fromEntries(platforms.map((p) => [`containerimage.buildinfo/${p}`, info]));
}
