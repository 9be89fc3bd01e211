import { posix } from 'node:path';
import { defaultCapabilities } from './privileges.js';
import { InvalidProcessError } from './errors.js';
import type { ResolvedUser } from './user.js';
import type { ProcessSpec } from './types.js';

/** One entry of the runtime spec's `mounts`. */
export interface SpecMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

/** A device node created in the container (insecure mode only). */
export interface SpecDevice {
  readonly path: string;
  readonly type: 'c' | 'b';
  readonly major: number;
  readonly minor: number;
}

interface Rlimit {
  type: string;
  soft: bigint;
  hard: bigint;
}

/** The subset of the OCI runtime spec (config.json) kiln writes. */
export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', string[]>;
    rlimits?: Rlimit[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: SpecMount[];
  linux: {
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    cgroupsPath: string;
    resources: { devices: { allow: boolean; type?: string; access: string }[] };
    devices: SpecDevice[];
  };
}

/** Everything buildSpec needs, already resolved against the rootfs and the host. */
export interface SpecInput {
  readonly id: string;
  readonly process: ProcessSpec;
  readonly user: ResolvedUser;
  readonly hostname: string;
  readonly rootPath: string;
  readonly readonlyRootfs: boolean;
  readonly resolvConf: string;
  readonly hosts: string;
  /** The step's own mounts, in order, after the defaults; one replaces a default at the same destination. */
  readonly mounts: readonly SpecMount[];
  readonly network: 'sandbox' | 'host' | 'none';
  readonly security: 'sandbox' | 'insecure';
  readonly insecureCapabilities: readonly string[];
  readonly insecureDevices: readonly SpecDevice[];
  readonly noNewPrivileges: boolean;
}

export const defaultPathEnv = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const maskedPaths = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];
const readonlyPaths = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const rlimitNames = new Set([
  'as',
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
]);
const unlimited = (1n << 64n) - 1n;

function rlimitValue(v: number | bigint): bigint {
  const n = BigInt(v);
  return n < 0n ? unlimited : n;
}

function defaultMounts(resolvConf: string, hosts: string, insecure: boolean): SpecMount[] {
  const sysOpts = insecure ? ['nosuid', 'noexec', 'nodev'] : ['nosuid', 'noexec', 'nodev', 'ro'];
  const roBind = ['nosuid', 'noexec', 'nodev', 'rbind', 'ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysOpts },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: sysOpts },
    { destination: '/etc/resolv.conf', type: 'bind', source: resolvConf, options: roBind },
    { destination: '/etc/hosts', type: 'bind', source: hosts, options: roBind },
  ];
}

function cgroupsPath(parent: string | undefined, id: string): string {
  if (!parent) return `/kiln/${id}`;
  // systemd driver syntax: "slice:prefix:" + name
  if (parent.includes('.slice') && parent.endsWith(':')) return parent + id;
  return posix.join('/', parent, 'kiln', id);
}

function rlimits(process: ProcessSpec): Rlimit[] | undefined {
  if (!process.ulimits || process.ulimits.length === 0) return undefined;
  return process.ulimits.map((u) => {
    const name = u.name.toLowerCase();
    if (!rlimitNames.has(name)) {
      throw new InvalidProcessError({
        field: 'ulimit',
        reason: `unknown resource ${JSON.stringify(u.name)}`,
      });
    }
    return { type: `RLIMIT_${name.toUpperCase()}`, soft: rlimitValue(u.soft), hard: rlimitValue(u.hard) };
  });
}

/**
 * The runtime spec for one step, modelled on BuildKit's runc worker: containerd's default mounts
 * (without /run), masked and read-only paths, Docker's default capabilities, new pid/ipc/uts/mount
 * namespaces, a new network namespace only for `none` (the runtime brings up `lo`). Insecure mode
 * grants `insecureCapabilities` in every set, clears masks, allows all devices and makes /sys
 * writable. Pure; throws InvalidProcessError for empty args or an unknown ulimit.
 */
export function buildSpec(input: SpecInput): RuntimeSpec {
  const { process: p, security } = input;
  if (p.args.length === 0) throw new InvalidProcessError({ field: 'args', reason: 'no command to run' });
  const insecure = security === 'insecure';
  const env = [...(p.env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.push(defaultPathEnv);
  const caps = insecure ? [...input.insecureCapabilities] : [...defaultCapabilities];
  const userMounts = new Set(input.mounts.map((m) => posix.normalize(m.destination)));
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (input.network === 'none') namespaces.push({ type: 'network' });
  const limits = rlimits(p);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: [...input.user.additionalGids] },
      args: [...p.args],
      env,
      cwd: posix.join('/', p.cwd ?? '/'),
      capabilities: {
        bounding: caps,
        effective: caps,
        permitted: caps,
        inheritable: insecure ? caps : [],
        ambient: insecure ? caps : [],
      },
      ...(limits ? { rlimits: limits } : {}),
      noNewPrivileges: input.noNewPrivileges,
    },
    root: { path: input.rootPath, readonly: input.readonlyRootfs },
    hostname: input.hostname,
    mounts: [
      ...defaultMounts(input.resolvConf, input.hosts, insecure).filter((m) => !userMounts.has(m.destination)),
      ...input.mounts,
    ],
    linux: {
      namespaces,
      maskedPaths: insecure ? [] : [...maskedPaths],
      readonlyPaths: insecure ? [] : [...readonlyPaths],
      cgroupsPath: cgroupsPath(p.cgroupParent, input.id),
      resources: {
        devices: insecure
          ? [
              { allow: true, type: 'c', access: 'rwm' },
              { allow: true, type: 'b', access: 'rwm' },
            ]
          : [{ allow: false, access: 'rwm' }],
      },
      devices: insecure ? [...input.insecureDevices] : [],
    },
  };
}

/** config.json text; rlimits are 64-bit and written as exact JSON integers. */
export function specJson(spec: RuntimeSpec): string {
  return JSON.stringify(spec, (_k, v: unknown) => (typeof v === 'bigint' ? `\u0000${v}\u0000` : v)).replace(
    /"\\u0000(\d+)\\u0000"/g,
    '$1',
  );
}
