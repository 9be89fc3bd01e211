import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parsePlatform, type Platform } from '../../oci/index.js';
import { checkAddress, loadTlsFiles, type ClientTls } from '../connect.js';
import { BuilderFileError } from './errors.js';

/** One daemon of a builder. */
export interface BuilderNode {
  /** The identity consistent hashing uses: keep it stable (a pod name), not an IP. */
  readonly name: string;
  /** `unix:///path` or `tcp://host:port`. */
  readonly address: string;
  /** Declared native platforms; when absent the router asks the node (ListWorkers). */
  readonly platforms?: readonly Platform[];
  readonly tls?: ClientTls;
}

/** Several daemons that build as one: kilnctl sends each build to one of them. */
export interface Builder {
  readonly nodes: readonly BuilderNode[];
}

/** TLS file flags (buildctl's `--tlscacert`, `--tlscert`, `--tlskey`, `--tlsdir`, `--tlsservername`). */
export interface TlsFileOptions {
  readonly caCert?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly dir?: string;
  readonly serverName?: string;
}

/**
 * A builder from repeated `--addr` flags; every node gets the same TLS files (the server name
 * defaults to each address's host). Throws ClientConnectError for a malformed address or
 * unreadable TLS files.
 */
export async function builderFromAddresses(
  addresses: readonly string[],
  tls: TlsFileOptions = {},
): Promise<Builder> {
  const nodes = await Promise.all(
    [...new Set(addresses)].map(async (address): Promise<BuilderNode> => {
      checkAddress(address);
      const t = await loadTlsFiles({ address, ...tls });
      return { name: address, address, ...(t ? { tls: t } : {}) };
    }),
  );
  return { nodes };
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v);
const tlsKeys = ['ca', 'cert', 'key', 'servername'] as const;
const nodeKeys = ['name', 'address', 'platforms', 'tls'] as const;

/**
 * Reads a builder file (TOML):
 *
 * ```toml
 * [tls]                      # optional, for every node; paths relative to this file
 * ca = "certs/ca.pem"
 * cert = "certs/client.pem"
 * key = "certs/client-key.pem"
 *
 * [[node]]
 * name = "kilnd-0"           # optional (default: the address); the hashing identity
 * address = "tcp://kilnd-0.kilnd-headless.kiln.svc.cluster.local:1234"
 * platforms = ["linux/amd64"] # optional: native platforms, instead of asking the node
 * [node.tls]                 # optional, per node: overrides [tls] key by key
 * servername = "kilnd"
 * ```
 *
 * Without `[tls]` or `[node.tls]`, the TLS flags (`fallback`) apply. Unknown keys, duplicate names,
 * a bad address or platform are errors (a typo must not silently change where builds go).
 * Throws BuilderFileError, or ClientConnectError for unreadable certificate files.
 */
export async function loadBuilderFile(path: string, fallback: TlsFileOptions = {}): Promise<Builder> {
  let doc: Table;
  try {
    doc = parseToml(await readFile(path, 'utf8')) as Table;
  } catch (cause) {
    throw new BuilderFileError({ path, message: (cause as Error).message, cause });
  }
  const fail = (key: string, message: string): never => {
    throw new BuilderFileError({ path, key, message });
  };
  for (const key of Object.keys(doc)) if (key !== 'tls' && key !== 'node') fail(key, 'unknown key');
  const base = dirname(resolve(path));
  const readTls = (v: unknown, key: string): Partial<Record<(typeof tlsKeys)[number], string>> => {
    if (v === undefined) return {};
    if (!isTable(v)) return fail(key, 'expected a table');
    const out: Partial<Record<(typeof tlsKeys)[number], string>> = {};
    for (const [k, value] of Object.entries(v)) {
      if (!(tlsKeys as readonly string[]).includes(k))
        fail(`${key}.${k}`, `unknown key (known: ${tlsKeys.join(', ')})`);
      if (typeof value !== 'string' || value === '') fail(`${key}.${k}`, 'expected a non-empty string');
      out[k as (typeof tlsKeys)[number]] =
        k === 'servername' ? (value as string) : resolve(base, value as string);
    }
    return out;
  };
  const common = readTls(doc['tls'], 'tls');
  const list = doc['node'];
  if (!Array.isArray(list) || list.length === 0 || !list.every(isTable)) {
    return fail('node', 'expected at least one [[node]] table');
  }
  const names = new Set<string>();
  const nodes: BuilderNode[] = [];
  for (const [i, entry] of (list as Table[]).entries()) {
    const key = `node[${i}]`;
    for (const k of Object.keys(entry)) {
      if (!(nodeKeys as readonly string[]).includes(k))
        fail(`${key}.${k}`, `unknown key (known: ${nodeKeys.join(', ')})`);
    }
    const address = entry['address'];
    if (typeof address !== 'string')
      return fail(`${key}.address`, 'expected unix:///path or tcp://host:port');
    try {
      checkAddress(address);
    } catch (cause) {
      throw new BuilderFileError({ path, key: `${key}.address`, message: (cause as Error).message, cause });
    }
    const name = entry['name'] ?? address;
    if (typeof name !== 'string' || name === '') return fail(`${key}.name`, 'expected a non-empty string');
    if (names.has(name)) fail(`${key}.name`, `${JSON.stringify(name)} names two nodes`);
    names.add(name);
    const platforms = entry['platforms'];
    let parsed: Platform[] | undefined;
    if (platforms !== undefined) {
      if (
        !Array.isArray(platforms) ||
        platforms.length === 0 ||
        !platforms.every((p) => typeof p === 'string')
      ) {
        return fail(`${key}.platforms`, 'expected a non-empty list such as ["linux/amd64"]');
      }
      try {
        parsed = (platforms as string[]).map(parsePlatform);
      } catch (cause) {
        throw new BuilderFileError({
          path,
          key: `${key}.platforms`,
          message: (cause as Error).message,
          cause,
        });
      }
    }
    const own = { ...common, ...readTls(entry['tls'], `${key}.tls`) };
    const files: TlsFileOptions =
      Object.keys(own).length > 0
        ? { caCert: own.ca, cert: own.cert, key: own.key, serverName: own.servername }
        : fallback;
    const tls = await loadTlsFiles({ address, ...files });
    nodes.push({ name, address, ...(parsed ? { platforms: parsed } : {}), ...(tls ? { tls } : {}) });
  }
  return { nodes };
}
