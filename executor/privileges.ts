import { readFile, stat } from 'node:fs/promises';
import type { SpecDevice } from './spec.js';

/** Capability names by bit number (linux/capability.h). */
const capabilityNames = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

/**
 * The capabilities a sandboxed step gets: the set BuildKit's runc worker inherits from
 * containerd's default spec (Docker's default set).
 */
export const defaultCapabilities: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Names of the capabilities set in a hex mask as /proc/<pid>/status prints it. */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return capabilityNames.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/**
 * Every capability this process may hand on (its bounding set): what an insecure (privileged)
 * step gets, as BuildKit grants "all capabilities of the daemon". Reads /proc/self/status.
 */
export async function allCapabilities(statusPath = '/proc/self/status'): Promise<string[]> {
  const status = await readFile(statusPath, 'utf8');
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex ? capabilitiesFromMask(hex) : [...defaultCapabilities];
}

const privilegedDeviceList: readonly SpecDevice[] = [
  { path: '/dev/kmsg', type: 'c', major: 1, minor: 11 },
  { path: '/dev/cuse', type: 'c', major: 10, minor: 203 },
  { path: '/dev/fuse', type: 'c', major: 10, minor: 229 },
  { path: '/dev/kvm', type: 'c', major: 10, minor: 232 },
  { path: '/dev/net/tun', type: 'c', major: 10, minor: 200 },
  { path: '/dev/loop-control', type: 'c', major: 10, minor: 237 },
  ...Array.from({ length: 8 }, (_, i): SpecDevice => ({
    path: `/dev/loop${i}`,
    type: 'b',
    major: 7,
    minor: i,
  })),
];

/**
 * The device nodes an insecure step gets besides the runtime's defaults (fuse, kvm, tun, loop …,
 * as BuildKit grants), limited to those the host has: the runtime falls back to bind-mounting a
 * node it may not create, which fails for a node the host lacks. One stat per candidate.
 */
export async function privilegedDevices(): Promise<SpecDevice[]> {
  const found: SpecDevice[] = [];
  for (const d of privilegedDeviceList) {
    try {
      const st = await stat(d.path);
      if (st.isCharacterDevice() || st.isBlockDevice()) found.push({ ...d });
    } catch {
      // absent on this host: not offered
    }
  }
  return found;
}
