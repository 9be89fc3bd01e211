import { isDigest, type Digest } from '../../oci/index.js';
import { goJson } from '../go-json.js';
import { CacheFormatError } from './errors.js';

/**
 * BuildKit's cache config (`application/vnd.buildkit.cacheconfig.v0`, BuildKit's
 * cache/remotecache/v1 spec): layers form chains through `parent` (-1 = base layer); a record is
 * one cache key (`digest`) with results that name the top layer of a chain (`layers`) or list a
 * chain explicitly (`chains`), and links to the records of its inputs (`inputs`). kiln writes its
 * own keys as records without inputs; `kiln.cacheMounts` is kiln's extension (BuildKit ignores
 * unknown keys) naming the layers that hold `RUN --mount=type=cache` contents.
 */
export interface CacheConfig {
  readonly layers: readonly CacheLayer[];
  readonly records: readonly CacheRecord[];
  readonly cacheMounts?: readonly CacheMountEntry[];
}

export interface CacheLayer {
  readonly blob: Digest;
  /** Index of the layer below, -1 for a base layer. */
  readonly parent: number;
}

export interface CacheRecord {
  readonly digest: string;
  readonly results?: ReadonlyArray<{ readonly layer: number; readonly createdAt?: string }>;
  readonly chains?: ReadonlyArray<{ readonly layers: readonly number[]; readonly createdAt?: string }>;
  readonly inputs?: ReadonlyArray<ReadonlyArray<{ readonly selector?: string; readonly link: number }>>;
}

/** A cache mount's contents: one compressed tar layer (parent -1) of the config's layers. */
export interface CacheMountEntry {
  readonly id: string;
  readonly layer: number;
  /** The platform of the step that used it (informative: kiln keys cache mounts by id). */
  readonly platform?: string;
}

const zeroTime = '0001-01-01T00:00:00Z';

function byteCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Sorts layers (by blob, then parent) and records (by digest) with every index rewritten, as
 * BuildKit normalises a config, so equal caches have equal bytes.
 */
export function sortConfig(config: CacheConfig): CacheConfig {
  const layerOrder = config.layers
    .map((layer, old) => ({ layer, old }))
    .sort((a, b) => byteCompare(a.layer.blob, b.layer.blob) || a.layer.parent - b.layer.parent);
  const newLayer = new Array<number>(config.layers.length);
  layerOrder.forEach((l, i) => (newLayer[l.old] = i));
  const layers = layerOrder.map(({ layer }) => ({
    blob: layer.blob,
    parent: layer.parent === -1 ? -1 : newLayer[layer.parent]!,
  }));
  const records = sortRecords(config.records, (i) => newLayer[i]!);
  const cacheMounts = config.cacheMounts
    ?.map((m) => ({ ...m, layer: newLayer[m.layer]! }))
    .sort((a, b) => byteCompare(a.id, b.id));
  return { layers, records, ...(cacheMounts && cacheMounts.length > 0 ? { cacheMounts } : {}) };
}

/**
 * Records sorted by digest with links rewritten, and layer indexes mapped by `layer` (identity for
 * an inline cache, whose layers are the image's in order).
 */
export function sortRecords(
  records: readonly CacheRecord[],
  layer: (index: number) => number = (i) => i,
): CacheRecord[] {
  const order = records
    .map((record, old) => ({ record, old }))
    .sort((a, b) => byteCompare(a.record.digest, b.record.digest));
  const newRecord = new Array<number>(records.length);
  order.forEach((r, i) => (newRecord[r.old] = i));
  return order.map(({ record }) => ({
    digest: record.digest,
    ...(record.results ? { results: record.results.map((r) => ({ ...r, layer: layer(r.layer) })) } : {}),
    ...(record.chains ? { chains: record.chains.map((c) => ({ ...c, layers: c.layers.map(layer) })) } : {}),
    ...(record.inputs
      ? { inputs: record.inputs.map((alts) => alts.map((a) => ({ ...a, link: newRecord[a.link]! }))) }
      : {}),
  }));
}

/** A record in Go's field order (`layers`, `chains`, `digest`, `inputs`), empty fields omitted. */
function recordJson(r: CacheRecord): Record<string, unknown> {
  return {
    ...(r.results?.length
      ? { layers: r.results.map((x) => ({ layer: x.layer, createdAt: x.createdAt ?? zeroTime })) }
      : {}),
    ...(r.chains?.length
      ? { chains: r.chains.map((c) => ({ layers: [...c.layers], createdAt: c.createdAt ?? zeroTime })) }
      : {}),
    ...(r.digest ? { digest: r.digest } : {}),
    ...(r.inputs?.length
      ? {
          inputs: r.inputs.map((alts) =>
            alts.map((a) => ({ ...(a.selector ? { selector: a.selector } : {}), link: a.link })),
          ),
        }
      : {}),
  };
}

/** The records array alone, as inline caches carry it (base64 in the image config). */
export function marshalRecords(records: readonly CacheRecord[]): Buffer {
  return Buffer.from(goJson(records.map(recordJson)));
}

/** The config's bytes as Go's json.Marshal writes BuildKit's structs (`parent` 0 omitted). */
export function marshalCacheConfig(config: CacheConfig): Buffer {
  const body = {
    ...(config.layers.length > 0
      ? {
          layers: config.layers.map((l) => ({
            blob: l.blob,
            ...(l.parent !== 0 ? { parent: l.parent } : {}),
          })),
        }
      : {}),
    ...(config.records.length > 0 ? { records: config.records.map(recordJson) } : {}),
    ...(config.cacheMounts?.length
      ? {
          'kiln.cacheMounts': config.cacheMounts.map((m) => ({
            id: m.id,
            layer: m.layer,
            ...(m.platform ? { platform: m.platform } : {}),
          })),
        }
      : {}),
  };
  return Buffer.from(goJson(body));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(v: unknown, fallback: number, what: string, source: string): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new CacheFormatError(source, `${what} is not an integer`);
  return v;
}

function array(v: unknown, what: string, source: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new CacheFormatError(source, `${what} is not an array`);
  return v;
}

function time(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Parses a records array (inline caches, or a config's `records`). */
export function parseRecords(value: unknown, source: string): CacheRecord[] {
  return array(value, 'records', source).map((raw, i) => {
    if (!isObject(raw)) throw new CacheFormatError(source, `record ${i} is not an object`);
    const results = array(raw['layers'], `record ${i} layers`, source).map((r) => {
      if (!isObject(r)) throw new CacheFormatError(source, `a result of record ${i} is not an object`);
      return { layer: int(r['layer'], 0, 'a result layer', source), createdAt: time(r['createdAt']) };
    });
    const chains = array(raw['chains'], `record ${i} chains`, source).map((c) => {
      if (!isObject(c)) throw new CacheFormatError(source, `a chain of record ${i} is not an object`);
      return {
        layers: array(c['layers'], 'chain layers', source).map((l) => int(l, 0, 'a chain layer', source)),
        createdAt: time(c['createdAt']),
      };
    });
    const inputs = array(raw['inputs'], `record ${i} inputs`, source).map((alts) =>
      array(alts, 'input alternatives', source).map((a) => {
        if (!isObject(a)) throw new CacheFormatError(source, `an input of record ${i} is not an object`);
        const selector = typeof a['selector'] === 'string' ? a['selector'] : undefined;
        return { ...(selector ? { selector } : {}), link: int(a['link'], 0, 'an input link', source) };
      }),
    );
    return {
      digest: typeof raw['digest'] === 'string' ? raw['digest'] : '',
      ...(results.length ? { results } : {}),
      ...(chains.length ? { chains } : {}),
      ...(inputs.length ? { inputs } : {}),
    };
  });
}

/**
 * Parses a cache config blob, tolerant as Go's decoder is (unknown keys ignored, a missing
 * `parent` is 0) but strict about what would make kiln misread it: every index in range, blobs
 * that are digests, no layer loops. Throws CacheFormatError.
 */
export function parseCacheConfig(bytes: Uint8Array, source: string): CacheConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new CacheFormatError(source, 'the cache config is not JSON', { cause });
  }
  if (!isObject(raw)) throw new CacheFormatError(source, 'the cache config is not a JSON object');
  const layers = array(raw['layers'], 'layers', source).map((l, i) => {
    if (!isObject(l) || typeof l['blob'] !== 'string' || !isDigest(l['blob'])) {
      throw new CacheFormatError(source, `layer ${i} has no blob digest`);
    }
    return { blob: l['blob'], parent: int(l['parent'], 0, `layer ${i} parent`, source) };
  });
  const records = parseRecords(raw['records'], source);
  const cacheMounts = array(raw['kiln.cacheMounts'], 'kiln.cacheMounts', source).map((m) => {
    if (!isObject(m) || typeof m['id'] !== 'string')
      throw new CacheFormatError(source, 'a cache mount has no id');
    return {
      id: m['id'],
      layer: int(m['layer'], 0, 'a cache mount layer', source),
      ...(typeof m['platform'] === 'string' ? { platform: m['platform'] } : {}),
    };
  });
  const config = { layers, records, ...(cacheMounts.length ? { cacheMounts } : {}) };
  checkIndexes(config, source);
  return config;
}

function checkIndexes(config: CacheConfig, source: string): void {
  const n = config.layers.length;
  const inRange = (i: number, what: string): void => {
    if (i < 0 || i >= n) throw new CacheFormatError(source, `${what} names layer ${i} of ${n}`);
  };
  config.layers.forEach((l, i) => {
    if (l.parent !== -1) inRange(l.parent, `layer ${i}`);
  });
  for (const [i] of config.layers.entries()) {
    const seen = new Set<number>();
    for (let at = i; at !== -1; at = config.layers[at]!.parent) {
      if (seen.has(at)) throw new CacheFormatError(source, `layer ${i} has a looping parent chain`);
      seen.add(at);
    }
  }
  config.records.forEach((r, i) => {
    for (const res of r.results ?? []) inRange(res.layer, `record ${i}`);
    for (const c of r.chains ?? []) for (const l of c.layers) inRange(l, `record ${i}`);
    for (const alts of r.inputs ?? []) {
      for (const a of alts) {
        if (a.link < 0 || a.link >= config.records.length) {
          throw new CacheFormatError(
            source,
            `record ${i} links to record ${a.link} of ${config.records.length}`,
          );
        }
      }
    }
  });
  for (const m of config.cacheMounts ?? []) inRange(m.layer, `cache mount ${m.id}`);
}

/** The chain of layer `top`, base first. */
export function layerChain(config: CacheConfig, top: number): number[] {
  const out: number[] = [];
  for (let at = top; at !== -1; at = config.layers[at]!.parent) out.unshift(at);
  return out;
}
