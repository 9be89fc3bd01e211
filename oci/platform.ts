import { OciFormatError } from './errors.js';

/** An OCI platform. Values are kept normalised (see normalizePlatform) wherever kiln compares them. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
  readonly osVersion?: string;
  readonly osFeatures?: readonly string[];
}

function normalizeArch(arch: string, variant: string): [string, string] {
  arch = arch.toLowerCase();
  variant = variant.toLowerCase();
  switch (arch) {
    case 'i386':
      return ['386', ''];
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return ['amd64', variant === 'v1' ? '' : variant];
    case 'aarch64':
    case 'arm64':
      return ['arm64', variant === '8' || variant === 'v8' ? '' : variant];
    case 'armhf':
      return ['arm', 'v7'];
    case 'armel':
      return ['arm', 'v6'];
    case 'arm':
      if (variant === '' || variant === '7') return ['arm', 'v7'];
      if (variant === '5' || variant === '6' || variant === '8') return ['arm', `v${variant}`];
      return ['arm', variant];
    default:
      return [arch, variant];
  }
}

/** Normalises OS and architecture spellings the way containerd does (aarch64 → arm64, arm → arm/v7 …). */
export function normalizePlatform(p: Platform): Platform {
  const [architecture, variant] = normalizeArch(p.architecture, p.variant ?? '');
  const os = p.os.toLowerCase() === 'macos' ? 'darwin' : p.os.toLowerCase();
  return withOptional({ os, architecture }, variant, p.osVersion, p.osFeatures);
}

function withOptional(
  base: { os: string; architecture: string },
  variant: string | undefined,
  osVersion: string | undefined,
  osFeatures: readonly string[] | undefined,
): Platform {
  return {
    ...base,
    ...(variant ? { variant } : {}),
    ...(osVersion ? { osVersion } : {}),
    ...(osFeatures && osFeatures.length > 0 ? { osFeatures } : {}),
  };
}

const component = /^[a-z0-9_.-]+$/i;

/** Parses `os/arch[/variant]` (or a bare `arch`, taken as linux) and normalises it. */
export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().split('/');
  if (parts.length > 3 || parts.some((part) => !component.test(part))) {
    throw new OciFormatError('platform', spec, 'expected os/arch[/variant], e.g. linux/arm64');
  }
  if (parts.length === 1) {
    return normalizePlatform({ os: 'linux', architecture: parts[0]! });
  }
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, variant: parts[2] ?? '' });
}

/** `os/arch[/variant]`, the form used as a key in multi-platform results (`refs.platforms`). */
export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  return n.variant ? `${n.os}/${n.architecture}/${n.variant}` : `${n.os}/${n.architecture}`;
}

export function platformEquals(a: Platform, b: Platform): boolean {
  return formatPlatform(a) === formatPlatform(b);
}

/** The platform of the Node process, as an OCI platform. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };
  return normalizePlatform({ os: process.platform, architecture: arch[process.arch] ?? process.arch });
}

/**
 * Orders the candidate platforms an image index may offer for a wanted platform, best first.
 * An amd64 host at micro-architecture level v3 runs v3, v2 and v1 images; an arm/v7 host runs v7,
 * v6 and v5. Returns the rank of `candidate` (0 = exact), or undefined when it cannot run.
 */
export function platformRank(wanted: Platform, candidate: Platform): number | undefined {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return undefined;
  const wv = w.variant ?? '';
  const cv = c.variant ?? '';
  if (wv === cv) return 0;
  const levels: Record<string, string[]> = {
    amd64: ['', 'v2', 'v3', 'v4'],
    arm: ['v5', 'v6', 'v7', 'v8'],
    arm64: ['', 'v8.1', 'v8.2', 'v8.3', 'v8.4', 'v8.5', 'v9'],
  };
  const order = levels[w.architecture];
  if (!order) return undefined;
  const wi = order.indexOf(wv);
  const ci = order.indexOf(cv);
  if (wi < 0 || ci < 0 || ci > wi) return undefined;
  return wi - ci;
}
