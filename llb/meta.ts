import { normalizePlatform, type Platform } from '../oci/index.js';
import { LlbBuildError } from './errors.js';
import { isAbsPath, joinPath } from './paths.js';
import type { State } from './state.js';

/**
 * A typed metadata key on a State's chain. Keys are compared by identity, so a value read back
 * through its key always has the type it was stored with; `fallback` is what an unset key reads.
 */
export interface MetaKey<T> {
  readonly name: string;
  readonly fallback: T;
}

/** A modifier of states: BuildKit's StateOption. Each modifier exists once, as such a function. */
export type StateModifier = (s: State) => State;

export type NetworkMode = 'sandbox' | 'host' | 'none';
export type SecurityMode = 'sandbox' | 'insecure';
/** Environment as ordered `[name, value]` pairs; replacing a name moves it to the end, as in Go. */
export type EnvList = readonly (readonly [string, string])[];

export interface HostIP {
  readonly host: string;
  readonly ip: string;
}

export type UlimitName =
  | 'core'
  | 'cpu'
  | 'data'
  | 'fsize'
  | 'locks'
  | 'memlock'
  | 'msgqueue'
  | 'nice'
  | 'nofile'
  | 'nproc'
  | 'rss'
  | 'rtprio'
  | 'rttime'
  | 'sigpending'
  | 'stack';

export interface Ulimit {
  readonly name: UlimitName;
  readonly soft: number;
  readonly hard: number;
}

/** The metadata keys the builder itself reads (names as BuildKit's client uses them). */
export const metaKeys = {
  args: { name: 'llb.exec.args', fallback: undefined } as MetaKey<readonly string[] | undefined>,
  dir: { name: 'llb.exec.dir', fallback: '' } as MetaKey<string>,
  env: { name: 'llb.exec.env', fallback: [] } as MetaKey<EnvList>,
  extraHosts: { name: 'llb.exec.extrahost', fallback: [] } as MetaKey<readonly HostIP[]>,
  hostname: { name: 'llb.exec.hostname', fallback: '' } as MetaKey<string>,
  ulimits: { name: 'llb.exec.ulimit', fallback: [] } as MetaKey<readonly Ulimit[]>,
  cgroupParent: { name: 'llb.exec.cgroup.parent', fallback: '' } as MetaKey<string>,
  user: { name: 'llb.exec.user', fallback: '' } as MetaKey<string>,
  platform: { name: 'llb.platform', fallback: undefined } as MetaKey<Platform | undefined>,
  network: { name: 'llb.network', fallback: 'sandbox' } as MetaKey<NetworkMode>,
  security: { name: 'llb.security', fallback: 'sandbox' } as MetaKey<SecurityMode>,
} as const;

export function envGet(env: EnvList, key: string): string | undefined {
  return env.find(([k]) => k === key)?.[1];
}

export function envAddOrReplace(env: EnvList, key: string, value: string): EnvList {
  return [...env.filter(([k]) => k !== key), [key, value]];
}

export function envSetDefault(env: EnvList, key: string, value: string): EnvList {
  return envGet(env, key) === undefined ? [...env, [key, value]] : env;
}

/** Sets the working directory; a relative path is joined to the previous one (or `/`). */
export function dir(path: string): StateModifier {
  return (s) =>
    s.withMeta(metaKeys.dir, (prev) =>
      isAbsPath(path) ? path : joinPath(prev.value(metaKeys.dir) || '/', path),
    );
}

/** Adds or replaces an environment variable. */
export function addEnv(key: string, value: string): StateModifier {
  return (s) => s.withMeta(metaKeys.env, (prev) => envAddOrReplace(prev.value(metaKeys.env), key, value));
}

export function user(name: string): StateModifier {
  return (s) => s.withMeta(metaKeys.user, () => name);
}

export function hostname(name: string): StateModifier {
  return (s) => s.withMeta(metaKeys.hostname, () => name);
}

/** The platform later ops of this state build for, normalised (`aarch64` → `arm64`). */
export function platform(p: Platform): StateModifier {
  const normalised = normalizePlatform(p);
  return (s) => s.withMeta(metaKeys.platform, () => normalised);
}

export function network(mode: NetworkMode): StateModifier {
  return (s) => s.withMeta(metaKeys.network, () => mode);
}

export function security(mode: SecurityMode): StateModifier {
  return (s) => s.withMeta(metaKeys.security, () => mode);
}

/** Adds an `/etc/hosts` entry; the IP is written in Go's canonical form. */
export function extraHost(host: string, ip: string): StateModifier {
  const entry = { host, ip: canonicalIp(ip) };
  return (s) => s.withMeta(metaKeys.extraHosts, (prev) => [...prev.value(metaKeys.extraHosts), entry]);
}

export function ulimit(name: UlimitName, soft: number, hard: number): StateModifier {
  const entry = { name, soft, hard };
  return (s) => s.withMeta(metaKeys.ulimits, (prev) => [...prev.value(metaKeys.ulimits), entry]);
}

export function cgroupParent(path: string): StateModifier {
  return (s) => s.withMeta(metaKeys.cgroupParent, () => path);
}

/** The argv of the next `run()` (what `run({ args })` sets). */
export function args(argv: readonly string[]): StateModifier {
  const copy = [...argv];
  return (s) => s.withMeta(metaKeys.args, () => copy);
}

/** Keeps the state's output but takes every metadata value from `other` (BuildKit's Reset). */
export function reset(other: State): StateModifier {
  return (s) => s.reset(other);
}

// net.IP.String(): IPv4 (also IPv4-mapped IPv6) dotted, IPv6 in RFC 5952 form, which the WHATWG
// URL parser also produces.
function canonicalIp(ip: string): string {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4 && v4.slice(1).every((o) => Number(o) <= 255 && (o === '0' || !o.startsWith('0')))) return ip;
  if (ip.includes(':')) {
    try {
      const host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
      const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
      if (!mapped) return host;
      const hi = parseInt(mapped[1] ?? '0', 16);
      const lo = parseInt(mapped[2] ?? '0', 16);
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    } catch {
      // fall through to the error below
    }
  }
  throw new LlbBuildError({ message: `extra host IP ${JSON.stringify(ip)} is not an IPv4 or IPv6 address` });
}
