import { formatPlatform, normalizePlatform, type Platform } from '../oci/index.js';
import type { BuildResult, ResultRef } from '../solver/index.js';
import { ResultShapeError } from './errors.js';

/** One platform's part of a build result. */
export interface PlatformResult {
  /** The platform ID (`linux/arm64`), the key of the frontend's per-platform metadata. */
  readonly id: string;
  readonly platform: Platform;
  readonly ref: ResultRef;
}

/** A result as exporters see it: one or several platforms, and whether it is a multi-platform map. */
export interface ResultPlatforms {
  readonly multi: boolean;
  readonly entries: readonly PlatformResult[];
}

interface WirePlatform {
  architecture?: string;
  os?: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

function toPlatform(p: WirePlatform): Platform {
  return normalizePlatform({
    os: p.os ?? '',
    architecture: p.architecture ?? '',
    ...(p.variant ? { variant: p.variant } : {}),
    ...(p['os.version'] ? { osVersion: p['os.version'] } : {}),
    ...(p['os.features']?.length ? { osFeatures: p['os.features'] } : {}),
  });
}

function text(metadata: ReadonlyMap<string, Uint8Array>, key: string): string | undefined {
  const v = metadata.get(key);
  return v ? Buffer.from(v).toString('utf8') : undefined;
}

function parseJson<T>(raw: string, what: string): T {
  try {
    return JSON.parse(raw) as T;
  } catch (cause) {
    throw new ResultShapeError(`the frontend's ${what} is not valid JSON`, { cause });
  }
}

/** A metadata value for one platform: `key/<id>` first, then `key`. */
export function platformMetadata(
  metadata: ReadonlyMap<string, Uint8Array>,
  key: string,
  id: string | undefined,
): Uint8Array | undefined {
  return (id ? metadata.get(`${key}/${id}`) : undefined) ?? metadata.get(key);
}

/**
 * The platforms of a result, as BuildKit reads them: the frontend's `refs.platforms` list, or
 * else one platform taken from the image config (`containerimage.config`), or `defaultPlatform`.
 * Throws ResultShapeError when a listed platform has no ref, or several platforms come without
 * a multi-platform map.
 */
export function resultPlatforms(result: BuildResult, defaultPlatform: Platform): ResultPlatforms {
  const multi = (result.refs?.size ?? 0) > 0;
  const listed = text(result.metadata, 'refs.platforms');
  let platforms: Array<{ id: string; platform: Platform }>;
  if (listed !== undefined) {
    const parsed = parseJson<{ Platforms?: Array<{ ID: string; Platform: WirePlatform }> }>(
      listed,
      'refs.platforms',
    );
    platforms = (parsed.Platforms ?? []).map((p) => ({ id: p.ID, platform: toPlatform(p.Platform) }));
  } else {
    if (multi) throw new ResultShapeError('unable to export multiple refs, missing platforms mapping');
    const config = text(result.metadata, 'containerimage.config');
    const image = config ? parseJson<WirePlatform>(config, 'containerimage.config') : {};
    const platform = image.os && image.architecture ? toPlatform(image) : normalizePlatform(defaultPlatform);
    platforms = [{ id: formatPlatform(platform), platform }];
  }
  if (!multi && platforms.length > 1) {
    throw new ResultShapeError('cannot export multiple platforms without multi-platform enabled');
  }
  const entries = platforms.map(({ id, platform }) => {
    let ref: ResultRef | undefined;
    if (multi) {
      ref = result.refs!.get(id) ?? (result.refs!.size === 1 ? [...result.refs!.values()][0] : undefined);
      if (!ref) throw new ResultShapeError(`failed to find ref for platform ${id} in the build result`);
    } else {
      ref = result.ref ?? { snapshot: undefined };
    }
    return { id, platform, ref };
  });
  if (entries.length === 0) throw new ResultShapeError('the build result lists no platforms');
  return { multi, entries };
}
