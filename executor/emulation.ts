import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Platform,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  platformRank,
} from '../oci/index.js';
import { PlatformUnsupportedError } from './errors.js';
import { type ProbeArch, probeArches } from './probe-binaries.js';

/** A registered binfmt_misc handler, as its file under the binfmt_misc directory describes it. */
export interface BinfmtHandler {
  readonly name: string;
  readonly enabled: boolean;
  readonly interpreter: string;
  readonly flags: string;
  readonly offset: number;
  readonly magic: Uint8Array;
  readonly mask: Uint8Array;
}

/** Runs a probe program; true when it exited 0. The default runs it chrooted (see detectPlatforms). */
export type Probe = (arch: ProbeArch, signal?: AbortSignal) => Promise<boolean>;

export interface DetectOptions {
  /** Default `/proc/sys/fs/binfmt_misc`. */
  readonly binfmtDir?: string;
  readonly probe?: Probe;
  /** Where probe programs are written (default the OS temp dir). */
  readonly workDir?: string;
  /** Default `/proc/cpuinfo`; read for the amd64 micro-architecture level. */
  readonly cpuinfoPath?: string;
  /** Default: the platform of this process. */
  readonly host?: Platform;
  readonly signal?: AbortSignal;
  /** A detectEmulators answer to reuse instead of probing again. */
  readonly emulators?: readonly EmulatorStatus[];
}

async function readHandler(dir: string, name: string): Promise<BinfmtHandler | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, name), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const field = (key: string): string | undefined =>
    lines
      .find((l) => l.startsWith(`${key} `) || l.startsWith(`${key}:`))
      ?.slice(key.length + 1)
      .trim();
  const magic = field('magic');
  if (magic === undefined) return undefined; // extension-matched handlers never apply to ELF probes
  const mask = field('mask');
  return {
    name,
    enabled: lines[0]?.trim() === 'enabled',
    interpreter: field('interpreter') ?? '',
    flags: field('flags') ?? '',
    offset: Number(field('offset') ?? '0'),
    magic: Buffer.from(magic, 'hex'),
    mask: mask === undefined ? Buffer.alloc(magic.length / 2, 0xff) : Buffer.from(mask, 'hex'),
  };
}

/**
 * The binfmt_misc handlers registered in `dir` (empty when binfmt_misc is not mounted or globally
 * disabled). Reads one small file per handler.
 */
export async function readBinfmtHandlers(dir = '/proc/sys/fs/binfmt_misc'): Promise<BinfmtHandler[]> {
  let names: string[];
  try {
    names = await readdir(dir);
    if ((await readFile(join(dir, 'status'), 'utf8').catch(() => 'enabled')).trim() !== 'enabled') return [];
  } catch {
    return [];
  }
  const handlers = await Promise.all(
    names.filter((n) => n !== 'status' && n !== 'register').map((n) => readHandler(dir, n)),
  );
  return handlers.filter((h): h is BinfmtHandler => h !== undefined);
}

/** Whether `handler` would be chosen by the kernel for a program starting with `header`. */
export function handlerMatches(handler: BinfmtHandler, header: Uint8Array): boolean {
  return handler.magic.every((byte, i) => {
    const m = handler.mask[i] ?? 0xff;
    return ((header[handler.offset + i] ?? -1) & m) === (byte & m);
  });
}

/**
 * Runs the probe as `/probe` in a directory holding nothing else, with chroot(8): it succeeds only
 * when the kernel can run the architecture without any file from the host's filesystem, as inside
 * a container (natively, or through a handler registered with the F flag).
 */
export function chrootProbe(workDir: string): Probe {
  return async (arch, signal) => {
    const dir = await mkdtemp(join(workDir, 'kiln-probe-'));
    try {
      await writeFile(join(dir, 'probe'), arch.binary);
      await chmod(join(dir, 'probe'), 0o755);
      return await new Promise<boolean>((resolve) => {
        execFile('chroot', [dir, '/probe'], { timeout: 10_000, signal }, (err) => resolve(!err));
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

/** The x86-64 micro-architecture level (1–4) the CPU flags of /proc/cpuinfo reach. */
export function amd64Level(cpuinfo: string): number {
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  const levels = [
    ['cx16', 'lahf_lm', 'popcnt', 'pni', 'sse4_1', 'sse4_2', 'ssse3'],
    ['avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave'],
    ['avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl'],
  ];
  let level = 1;
  for (const need of levels) {
    if (!need.every((f) => flags.has(f))) break;
    level++;
  }
  return level;
}

/** Per candidate architecture: whether a handler exists, and whether the probe ran. */
export interface EmulatorStatus {
  readonly architecture: string;
  readonly qemu: string;
  /** The matching enabled handler's name, when one is registered. */
  readonly handler?: string;
  readonly works: boolean;
}

/**
 * Inspects every foreign architecture kiln has a probe for: the enabled binfmt_misc handler whose
 * magic matches the probe's ELF header, and whether the probe actually runs. Architectures the
 * kernel may run natively (386 on amd64, arm on arm64) are probed even without a handler. Runs at
 * most one short process per candidate; call once and keep the answer.
 */
export async function detectEmulators(opts: DetectOptions = {}): Promise<EmulatorStatus[]> {
  const host = normalizePlatform(opts.host ?? hostPlatform());
  const handlers = (await readBinfmtHandlers(opts.binfmtDir)).filter((h) => h.enabled);
  const probe = opts.probe ?? chrootProbe(opts.workDir ?? tmpdir());
  const compat: Record<string, string> = { amd64: '386', arm64: 'arm' };
  const candidates = probeArches.filter((a) => a.architecture !== host.architecture);
  return Promise.all(
    candidates.map(async (arch): Promise<EmulatorStatus> => {
      const handler = handlers.find((h) => handlerMatches(h, arch.binary));
      const worth = handler !== undefined || compat[host.architecture] === arch.architecture;
      const works = worth ? await probe(arch, opts.signal) : false;
      return {
        architecture: arch.architecture,
        qemu: arch.qemu,
        works,
        ...(handler ? { handler: handler.name } : {}),
      };
    }),
  );
}

/**
 * The platforms steps can run on here, host first (with its amd64 micro-architecture levels, as
 * `linux/amd64/v2` …), then each foreign platform whose binfmt_misc handler is registered and runs
 * a test program (arm adds v7 and v6), in BuildKit's order.
 */
export async function detectPlatforms(opts: DetectOptions = {}): Promise<Platform[]> {
  const host = normalizePlatform(opts.host ?? hostPlatform());
  const out: Platform[] = [host];
  if (host.os !== 'linux') return out;
  if (host.architecture === 'amd64') {
    const cpuinfo = await readFile(opts.cpuinfoPath ?? '/proc/cpuinfo', 'utf8').catch(() => '');
    for (let v = 2; v <= amd64Level(cpuinfo); v++)
      out.push({ os: 'linux', architecture: 'amd64', variant: `v${v}` });
  }
  for (const e of opts.emulators ?? (await detectEmulators(opts))) {
    if (!e.works) continue;
    const arch = probeArches.find((a) => a.architecture === e.architecture)!;
    for (const variant of arch.variants) {
      out.push(
        normalizePlatform({ os: 'linux', architecture: arch.architecture, ...(variant ? { variant } : {}) }),
      );
    }
  }
  return out;
}

/**
 * Throws PlatformUnsupportedError unless a step for `platform` can run here, saying how to make it
 * work: which qemu handler to install and register (with the F flag). `supported` is a list from
 * detectPlatforms; `emulators` (from detectEmulators) sharpens the message when given.
 */
export function checkPlatform(
  platform: Platform,
  supported: readonly Platform[],
  emulators: readonly EmulatorStatus[] = [],
): void {
  const wanted = normalizePlatform(platform);
  if (supported.some((p) => platformRank(p, wanted) !== undefined)) return;
  const names = supported.map(formatPlatform);
  const host = supported[0];
  const name = formatPlatform(wanted);
  if (host && host.os === wanted.os && host.architecture === wanted.architecture) {
    const problem = `${name} cannot run here: the host CPU does not support this variant`;
    throw new PlatformUnsupportedError({ platform: name, supported: names, problem });
  }
  const arch = probeArches.find((a) => a.architecture === wanted.architecture);
  const status = emulators.find((e) => e.architecture === wanted.architecture);
  let reason: string;
  if (!arch || wanted.os !== 'linux') {
    reason = 'kiln has no emulation for this platform';
  } else if (status?.handler) {
    reason =
      `handler ${status.handler} is registered but cannot run a test program from inside a container; ` +
      `re-register qemu-${arch.qemu} with the F (fix-binary) flag`;
  } else {
    reason =
      `install qemu-user-static and register qemu-${arch.qemu} with binfmt_misc ` +
      `(/proc/sys/fs/binfmt_misc/register, e.g. with update-binfmts --enable qemu-${arch.qemu}), with the F flag`;
  }
  throw new PlatformUnsupportedError({
    platform: name,
    supported: names,
    problem: `no working QEMU handler for ${name}: ${reason}`,
  });
}
