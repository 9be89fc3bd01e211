import { statfs } from 'node:fs/promises';

const sizeUnits: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  tib: 1024 ** 4,
};

/** A disk size: bytes, a size with a unit (`512MB`, `10GiB`), or a share of the disk (`10%`). */
export type DiskSize = { readonly bytes: number } | { readonly percent: number };

export function parseDiskSize(value: unknown): DiskSize | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return { bytes: Math.floor(value) };
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent) return { percent: Number(percent[1]) };
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(text);
  const unit = m ? sizeUnits[m[2]!] : undefined;
  return m && unit !== undefined ? { bytes: Math.floor(Number(m[1]) * unit) } : undefined;
}

/** Bytes of a DiskSize on the filesystem holding `path`. */
export async function resolveDiskSize(size: DiskSize, path: string): Promise<number> {
  if ('bytes' in size) return size.bytes;
  const fs = await statfs(path);
  return Math.floor((fs.blocks * fs.bsize * size.percent) / 100);
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in milliseconds: seconds as a number (as buildkitd.toml), or `48h`, `30m`, `1h30m`. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  let total = 0;
  const text = value.trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * durationUnits[m[2]!]!;
    consumed += m[0].length;
  }
  return consumed === text.length ? total : undefined;
}
