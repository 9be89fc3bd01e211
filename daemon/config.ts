import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse as parseToml } from 'smol-toml';
import { recordFilter } from '../solver/index.js';
import { ConfigError } from './errors.js';
import { parseDiskSize, parseDuration, type DiskSize } from './units.js';

export type SnapshotterKind = 'auto' | 'overlayfs' | 'native';
export type NetworkMode = 'host' | 'none';
export type Entitlement = 'network.host' | 'security.insecure';

export interface RegistryHostConfig {
  readonly http?: boolean;
  readonly insecure?: boolean;
  readonly mirrors?: readonly string[];
  readonly ca?: readonly string[];
}

export interface TlsConfig {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

/** One garbage-collection rule, as `[[worker.oci.gcpolicy]]` in buildkitd.toml. */
export interface GcPolicy {
  readonly all: boolean;
  readonly filters: readonly string[];
  /** Records unused for less than this are kept (ms; 0 = no age rule). */
  readonly keepDurationMs: number;
  /** Never prune below this much (BuildKit's keepBytes / reservedSpace). */
  readonly reservedSpace?: DiskSize;
  /** Prune until at most this much is used. */
  readonly maxUsedSpace?: DiskSize;
  /** Prune until the disk has at least this much free. */
  readonly minFreeSpace?: DiskSize;
}

/** Everything kilnd is configured with, after the TOML file and the flags are merged. */
export interface KilndConfig {
  readonly root: string;
  readonly addresses: readonly string[];
  readonly debug: boolean;
  readonly logFormat: 'text' | 'json';
  readonly grpc: { readonly uid?: number; readonly gid?: number; readonly tls?: TlsConfig };
  readonly worker: {
    readonly snapshotter: SnapshotterKind;
    /** Undefined = unbounded, as in BuildKit. */
    readonly maxParallelism?: number;
    /** Restricts the platforms the worker offers (each must be runnable). */
    readonly platforms?: readonly string[];
    readonly networkMode: NetworkMode;
    readonly runtime: string;
    /** Background garbage collection (default on). */
    readonly gc: boolean;
    /** The rules, in order; empty means BuildKit's defaults (see defaultGcPolicies). */
    readonly gcPolicies: readonly GcPolicy[];
    /** `gckeepstorage`: the budget the default rules use. */
    readonly gcKeepStorage?: DiskSize;
    /** How long after a build collection runs (kiln's `gcDelay`; default one minute). */
    readonly gcDelayMs?: number;
  };
  readonly history: { readonly maxAgeMs: number; readonly maxEntries: number };
  /** Where to serve metrics, health and (later) the build view over HTTP; off when absent. */
  readonly debugAddress?: string;
  /** How long SIGTERM waits for running builds before cancelling them. */
  readonly shutdownTimeoutMs: number;
  readonly registries: Readonly<Record<string, RegistryHostConfig>>;
  readonly insecureEntitlements: readonly Entitlement[];
  /** Keys in the file kiln does not know; logged at start-up. */
  readonly unknownKeys: readonly string[];
}

export const defaultConfigPath = '/etc/kiln/kilnd.toml';
export const defaultAddress = 'unix:///run/buildkit/buildkitd.sock';
export const defaultRoot = '/var/lib/kiln';

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Reads typed values out of a TOML table, naming the key in every error and recording unknown keys. */
class TableReader {
  readonly #seen = new Set<string>();
  readonly #values: Table;
  readonly #prefix: string;
  readonly #unknown: string[];

  constructor(values: Table, prefix: string, unknown: string[]) {
    this.#values = values;
    this.#prefix = prefix;
    this.#unknown = unknown;
  }

  #get(key: string): unknown {
    this.#seen.add(key);
    return this.#values[key];
  }

  /** The key's full name, for errors found after reading it. */
  keyName(key: string): string {
    return this.#prefix + key;
  }

  #fail(key: string, expected: string): never {
    throw new ConfigError(
      this.#prefix + key,
      `expected ${expected}, got ${JSON.stringify(this.#values[key])}`,
    );
  }

  string(key: string): string | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    return typeof v === 'string' ? v : this.#fail(key, 'a string');
  }

  bool(key: string): boolean | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    return typeof v === 'boolean' ? v : this.#fail(key, 'true or false');
  }

  int(key: string, min = 0): number | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    return typeof v === 'number' && Number.isInteger(v) && v >= min
      ? v
      : this.#fail(key, `an integer ≥ ${min}`);
  }

  size(key: string): DiskSize | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    return (
      parseDiskSize(v) ?? this.#fail(key, 'a size in bytes, a size with a unit (512MB) or a percentage (10%)')
    );
  }

  duration(key: string): number | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    return parseDuration(v) ?? this.#fail(key, 'seconds or a duration such as 48h');
  }

  tableList(key: string): TableReader[] {
    const v = this.#get(key);
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every(isTable)) this.#fail(key, 'an array of tables ([[…]])');
    return (v as Table[]).map((t, i) => new TableReader(t, `${this.#prefix}${key}[${i}].`, this.#unknown));
  }

  strings(key: string): string[] | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    return Array.isArray(v) && v.every((s) => typeof s === 'string')
      ? v
      : this.#fail(key, 'a list of strings');
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    return (values as readonly string[]).includes(v) ? (v as T) : this.#fail(key, values.join(' | '));
  }

  table(key: string): TableReader {
    const v = this.#get(key);
    if (v !== undefined && !isTable(v)) this.#fail(key, 'a table');
    return new TableReader(isTable(v) ? v : {}, `${this.#prefix}${key}.`, this.#unknown);
  }

  tables(key: string): Array<[string, TableReader]> {
    const v = this.#get(key);
    if (v === undefined) return [];
    if (!isTable(v)) this.#fail(key, 'a table of tables');
    return Object.entries(v).map(([name, t]) => {
      if (!isTable(t)) throw new ConfigError(`${this.#prefix}${key}."${name}"`, 'expected a table');
      return [name, new TableReader(t, `${this.#prefix}${key}."${name}".`, this.#unknown)];
    });
  }

  /** Call after reading: any key not read is unknown to kiln. */
  finish(): void {
    for (const key of Object.keys(this.#values)) {
      if (!this.#seen.has(key)) this.#unknown.push(this.#prefix + key);
    }
  }
}

const entitlements: readonly Entitlement[] = ['network.host', 'security.insecure'];

function parseEntitlements(key: string, values: readonly string[]): Entitlement[] {
  return values.map((v) => {
    if (!(entitlements as readonly string[]).includes(v)) {
      throw new ConfigError(
        key,
        `unknown entitlement ${JSON.stringify(v)} (known: ${entitlements.join(', ')})`,
      );
    }
    return v as Entitlement;
  });
}

interface FileSettings {
  root?: string;
  debugAddress?: string;
  history: { maxAgeMs?: number; maxEntries?: number };
  debug?: boolean;
  addresses?: string[];
  grpc: KilndConfig['grpc'];
  worker: Partial<KilndConfig['worker']>;
  registries: Record<string, RegistryHostConfig>;
  insecureEntitlements?: Entitlement[];
  unknownKeys: string[];
}

/** Parses kilnd.toml text (buildkitd.toml's keys wherever the meaning is the same). */
export function parseConfigFile(text: string, path: string): FileSettings {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (cause) {
    throw new ConfigError(path, `not valid TOML: ${(cause as Error).message}`, { cause });
  }
  const unknownKeys: string[] = [];
  const top = new TableReader(doc, '', unknownKeys);
  const grpc = top.table('grpc');
  const tls = grpc.table('tls');
  const cert = tls.string('cert');
  const key = tls.string('key');
  const ca = tls.string('ca');
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError('grpc.tls', 'cert and key must be given together');
  }
  const worker = top.table('worker');
  const oci = worker.table('oci');
  const gcPolicies = oci.tableList('gcpolicy').map((policy): GcPolicy => {
    // v0.11's keepBytes caps what is kept; newer configs split it into reservedSpace (a floor)
    // and maxUsedSpace (the cap).
    const keepBytes = policy.size('keepBytes');
    const reserved = policy.size('reservedSpace');
    const maxUsed = policy.size('maxUsedSpace') ?? keepBytes;
    const minFree = policy.size('minFreeSpace');
    const filters = policy.strings('filters') ?? [];
    try {
      recordFilter(filters);
    } catch (cause) {
      throw new ConfigError(policy.keyName('filters'), (cause as Error).message);
    }
    const parsed: GcPolicy = compact({
      all: policy.bool('all') ?? false,
      filters,
      keepDurationMs: policy.duration('keepDuration') ?? 0,
      reservedSpace: reserved,
      maxUsedSpace: maxUsed,
      minFreeSpace: minFree,
    });
    policy.finish();
    return parsed;
  });
  const historyTable = top.table('history');
  const history = compact({
    maxAgeMs: historyTable.duration('maxAge'),
    maxEntries: historyTable.int('maxEntries', 0),
  });
  historyTable.finish();
  const registries: Record<string, RegistryHostConfig> = {};
  for (const [host, reg] of top.tables('registry')) {
    registries[host] = compact({
      http: reg.bool('http'),
      insecure: reg.bool('insecure'),
      mirrors: reg.strings('mirrors'),
      ca: reg.strings('ca'),
    });
    reg.finish();
  }
  const settings: FileSettings = {
    ...compact({
      root: top.string('root'),
      debug: top.bool('debug'),
      addresses: grpc.strings('address'),
      debugAddress: grpc.string('debugAddress'),
    }),
    history,
    grpc: compact({
      uid: grpc.int('uid'),
      gid: grpc.int('gid'),
      tls: cert && key ? compact({ cert, key, ca }) : undefined,
    }),
    worker: compact({
      snapshotter: oci.oneOf<SnapshotterKind>('snapshotter', ['auto', 'overlayfs', 'native']),
      maxParallelism: oci.int('max-parallelism', 1),
      platforms: oci.strings('platforms'),
      networkMode: oci.oneOf<NetworkMode>('networkMode', ['host', 'none']),
      runtime: oci.string('binary'),
      gc: oci.bool('gc'),
      gcKeepStorage: oci.size('gckeepstorage'),
      gcDelayMs: oci.duration('gcDelay'),
      gcPolicies: gcPolicies.length > 0 ? gcPolicies : undefined,
    }),
    registries,
    insecureEntitlements: parseEntitlements(
      'insecure-entitlements',
      top.strings('insecure-entitlements') ?? [],
    ),
    unknownKeys,
  };
  tls.finish();
  grpc.finish();
  oci.finish();
  worker.finish();
  top.finish();
  return settings;
}

function compact<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

export const usage = `Usage: kilnd [options]

  --addr ADDRESS          listen address (repeatable): unix:///path or tcp://host:port (TLS required)
                          default ${defaultAddress}
  --root DIR              state directory (default ${defaultRoot})
  --config FILE           TOML configuration (default ${defaultConfigPath}; missing = defaults)
  --snapshotter KIND      auto | overlayfs | native (default auto)
  --allow-insecure-entitlement NAME
                          allow network.host or security.insecure when a build asks (repeatable)
  --tlscert FILE --tlskey FILE [--tlscacert FILE]
                          TLS for tcp:// listeners (a CA makes it mutual TLS)
  --debugaddr ADDRESS     serve metrics and health over HTTP (e.g. 127.0.0.1:6060)
  --debug                 debug logging
  --log-format text|json  log format (default text)
  -h, --help              this help
`;

/** Merges the config file (if present) with command-line flags; flags win. */
export async function loadConfig(argv: readonly string[]): Promise<KilndConfig> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      addr: { type: 'string', multiple: true },
      root: { type: 'string' },
      config: { type: 'string' },
      snapshotter: { type: 'string' },
      'allow-insecure-entitlement': { type: 'string', multiple: true },
      tlscert: { type: 'string' },
      tlskey: { type: 'string' },
      tlscacert: { type: 'string' },
      debug: { type: 'boolean' },
      'log-format': { type: 'string' },
      debugaddr: { type: 'string' },
    },
    strict: true,
  });
  const configPath = values.config ?? defaultConfigPath;
  const file = await readConfigFile(configPath, values.config !== undefined);
  const logFormat = values['log-format'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') {
    throw new ConfigError('--log-format', `expected text or json, got ${JSON.stringify(logFormat)}`);
  }
  const snapshotter = values.snapshotter ?? file.worker.snapshotter ?? 'auto';
  if (!['auto', 'overlayfs', 'native'].includes(snapshotter)) {
    throw new ConfigError(
      '--snapshotter',
      `expected auto, overlayfs or native, got ${JSON.stringify(snapshotter)}`,
    );
  }
  const tls = values.tlscert || values.tlskey ? flagTls(values) : file.grpc.tls;
  return {
    root: values.root ?? file.root ?? defaultRoot,
    addresses: values.addr ?? file.addresses ?? [defaultAddress],
    debug: values.debug ?? file.debug ?? false,
    logFormat,
    grpc: { ...file.grpc, ...(tls ? { tls } : {}) },
    worker: {
      ...file.worker,
      snapshotter: snapshotter as SnapshotterKind,
      networkMode: file.worker.networkMode ?? 'host',
      runtime: file.worker.runtime ?? 'runc',
      gc: file.worker.gc ?? true,
      gcPolicies: file.worker.gcPolicies ?? [],
    },
    history: {
      maxAgeMs: file.history.maxAgeMs ?? 48 * 3600 * 1000,
      maxEntries: file.history.maxEntries ?? 50,
    },
    ...((values['debugaddr'] ?? file.debugAddress)
      ? { debugAddress: values['debugaddr'] ?? file.debugAddress }
      : {}),
    shutdownTimeoutMs: 10 * 60 * 1000,
    registries: file.registries,
    insecureEntitlements: values['allow-insecure-entitlement']
      ? parseEntitlements('--allow-insecure-entitlement', values['allow-insecure-entitlement'])
      : (file.insecureEntitlements ?? []),
    unknownKeys: file.unknownKeys,
  };
}

function flagTls(values: { tlscert?: string; tlskey?: string; tlscacert?: string }): TlsConfig {
  if (!values.tlscert || !values.tlskey) {
    throw new ConfigError('--tlscert/--tlskey', 'both must be given');
  }
  return { cert: values.tlscert, key: values.tlskey, ...(values.tlscacert ? { ca: values.tlscacert } : {}) };
}

async function readConfigFile(path: string, explicit: boolean): Promise<FileSettings> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) {
      return { grpc: {}, worker: {}, history: {}, registries: {}, unknownKeys: [] };
    }
    throw new ConfigError('--config', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  return parseConfigFile(text, path);
}
