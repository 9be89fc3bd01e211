import type { Descriptor, Platform } from '../oci/index.js';

/**
 * JSON as Go's encoding/json writes it, so kiln's manifests and configs look like BuildKit's:
 * `<`, `>`, `&`, U+2028 and U+2029 escaped; `indent` gives MarshalIndent's two-space layout.
 * Field order is the caller's (build objects in Go's struct order; maps sorted with `sorted`).
 */
export function goJson(value: unknown, indent = false): string {
  return JSON.stringify(value, null, indent ? 2 : undefined).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A map with its keys in Go's order (sorted by bytes); undefined when empty (`omitempty`). */
export function sorted(
  record: Readonly<Record<string, string>> | undefined,
): Record<string, string> | undefined {
  if (!record) return undefined;
  const keys = Object.keys(record).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (keys.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const k of keys) out[k] = record[k]!;
  return out;
}

/** A time as Go's time.Time marshals in UTC (RFC 3339, fraction without trailing zeros). */
export function goTime(time: Date): string {
  return time.toISOString().replace(/\.(\d*?)0*Z$/, (_, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

/** A SOURCE_DATE_EPOCH (seconds) as a Go time string. */
export function epochTime(seconds: number): string {
  return goTime(new Date(seconds * 1000));
}

/** An OCI platform in the order and spelling of Go's ocispecs.Platform. */
export function platformJson(p: Platform): Record<string, unknown> {
  return {
    architecture: p.architecture,
    os: p.os,
    ...(p.osVersion ? { 'os.version': p.osVersion } : {}),
    ...(p.osFeatures && p.osFeatures.length > 0 ? { 'os.features': [...p.osFeatures] } : {}),
    ...(p.variant ? { variant: p.variant } : {}),
  };
}

/** A descriptor in the order of Go's ocispecs.Descriptor, empty fields omitted. */
export function descriptorJson(d: Descriptor): Record<string, unknown> {
  const annotations = sorted(d.annotations);
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.urls && d.urls.length > 0 ? { urls: [...d.urls] } : {}),
    ...(annotations ? { annotations } : {}),
    ...(d.platform ? { platform: platformJson(d.platform) } : {}),
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
  };
}
