import { formatPlatform, type Digest, type HistoryEntry, type Platform } from '../oci/index.js';
import { ResultShapeError } from './errors.js';
import { epochTime, goJson, goTime } from './go-json.js';

/** What the config needs to know about each layer, base first. */
export interface ConfigLayer {
  readonly diffId: Digest;
  readonly createdAt: Date;
}

/** Comment BuildKit gives history entries it adds for layers the frontend did not describe. */
const addedComment = 'buildkit.exporter.image.v0';

/** The config of an image built without a frontend's config: platform, PATH and `/`, as BuildKit makes it. */
export function defaultImageConfig(platform: Platform): string {
  return goJson({
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      WorkingDir: '/',
    },
    rootfs: { type: 'layers', diff_ids: null },
  });
}

function historyJson(h: HistoryEntry): HistoryEntry {
  return {
    ...(h.created ? { created: h.created } : {}),
    ...(h.created_by ? { created_by: h.created_by } : {}),
    ...(h.author ? { author: h.author } : {}),
    ...(h.comment ? { comment: h.comment } : {}),
    ...(h.empty_layer ? { empty_layer: true } : {}),
  };
}

/**
 * Matches history to layers the way BuildKit normalises it: history claiming more layers than
 * exist turns the extra entries into empty layers; layers without history get an entry; layer
 * entries without a time take the layer's creation time; remaining gaps take the time of the
 * first new layer (or the previous entry's).
 */
export function normalizeHistory(
  history: readonly HistoryEntry[],
  layers: readonly ConfigLayer[],
): HistoryEntry[] {
  const out = history.map((h) => ({ ...h }));
  let claimed = out.filter((h) => !h.empty_layer).length;
  if (claimed > layers.length) {
    let seen = 0;
    for (const h of out) {
      if (seen >= layers.length) h.empty_layer = true;
      if (!h.empty_layer) seen++;
    }
    claimed = layers.length;
  }
  for (const layer of layers.slice(claimed)) {
    out.push({ created: goTime(layer.createdAt), created_by: 'created by kiln', comment: addedComment });
  }
  let index = 0;
  for (const h of out) {
    if (h.empty_layer) continue;
    if (!h.created && layers[index]) h.created = goTime(layers[index]!.createdAt);
    index++;
  }
  let created: string | undefined;
  let gap = false;
  for (const h of out) {
    if (h.created) {
      created = h.created;
      if (gap) break;
    } else {
      gap = true;
    }
  }
  gap = false;
  for (const h of out) {
    if (h.created) {
      if (gap) created = h.created;
    } else {
      gap = true;
      if (created) h.created = created;
    }
  }
  return out;
}

function after(time: string | undefined, epoch: number): boolean {
  if (!time) return false;
  const ms = Date.parse(time);
  return Number.isFinite(ms) && ms > epoch * 1000;
}

/**
 * The final image config: the frontend's config (or the default one for `platform`) with
 * `rootfs` from the layers, history normalised, and with `epoch` every time later than it
 * clamped (missing history times set to it). Keys come out sorted, as Go writes a map.
 * Throws ResultShapeError when the frontend's config is not a JSON object.
 */
export function patchImageConfig(
  raw: Uint8Array | undefined,
  platform: Platform,
  layers: readonly ConfigLayer[],
  epoch: number | undefined,
): Buffer {
  const text = raw && raw.length > 0 ? Buffer.from(raw).toString('utf8') : defaultImageConfig(platform);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new ResultShapeError(`the image config for ${formatPlatform(platform)} is not valid JSON`, {
      cause,
    });
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new ResultShapeError(`the image config for ${formatPlatform(platform)} is not a JSON object`);
  }
  const history = normalizeHistory(
    Array.isArray(config.history) ? (config.history as HistoryEntry[]) : [],
    layers,
  );
  if (epoch !== undefined) {
    for (const h of history) if (!h.created || after(h.created, epoch)) h.created = epochTime(epoch);
  }
  config.rootfs = { type: 'layers', diff_ids: layers.length > 0 ? layers.map((l) => l.diffId) : null };
  config.history = history.map(historyJson);
  if (typeof config.created === 'string' && epoch !== undefined && after(config.created, epoch)) {
    config.created = epochTime(epoch);
  }
  if (config.created === undefined) {
    config.created = history.reduce<string | null>((last, h) => h.created ?? last, null);
  }
  delete config['moby.buildkit.buildinfo.v1'];
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(config).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
    out[key] = config[key];
  }
  return Buffer.from(goJson(out));
}
