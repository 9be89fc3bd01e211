import type { Descriptor, Digest } from '../oci/index.js';
import type { BuildResult, BuildSources } from '../solver/index.js';
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
 * `containerimage.buildinfo` (deprecated in BuildKit, still read by some CI): the frontend, its
 * options as BuildKit v0.11's solver answers them (host-specific and `attest:` options left out,
 * credentials in context URLs masked) and the images the result was built from. Undefined when
 * there is nothing to say.
 */
export function buildInfo(
  frontend: string,
  frontendAttrs: Readonly<Record<string, string>>,
  sources?: BuildSources,
): string | undefined {
  const attrs: Record<string, string> = {};
  const contextKey = frontendAttrs['contextkey'] || 'context';
  for (const [key, value] of Object.entries(frontendAttrs)) {
    if (hostSpecific.has(key) || key.startsWith('attest:')) continue;
    attrs[key] = key === contextKey || key.startsWith('context:') ? redactCredentials(value) : value;
  }
  const kept = sorted(attrs);
  const used = (sources?.images ?? []).map((i) => ({ type: 'docker-image', ref: i.ref, pin: i.digest }));
  if (!frontend && !kept && used.length === 0) return undefined;
  return Buffer.from(
    goJson({
      ...(frontend ? { frontend } : {}),
      ...(kept ? { attrs: kept } : {}),
      ...(used.length > 0 ? { sources: used } : {}),
    }),
  ).toString('base64');
}

/**
 * The build info part of an exporter response, which BuildKit v0.11 adds to every build's
 * response whatever the output: `containerimage.buildinfo` for a single result, one
 * `containerimage.buildinfo/<platform>` per platform of a multi-platform one, each with the
 * sources of its own platform.
 */
export function buildInfoResponse(
  info: (sources: BuildSources | undefined) => string | undefined,
  result: Pick<BuildResult, 'refs' | 'sources'>,
): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = result.refs ? [...result.refs.keys()] : [''];
  for (const key of keys) {
    const value = info(result.sources.get(key));
    if (value) out[key === '' ? 'containerimage.buildinfo' : `containerimage.buildinfo/${key}`] = value;
  }
  return out;
}
