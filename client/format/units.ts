/**
 * Byte sizes as BuildKit's tools print them (decimal units): below 1000 an integer with `B`,
 * else the value in the largest unit reaching 1, e.g. `1.23kB`, `3.09MB`.
 */

const decimalUnits = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

function scaled(bytes: number): { value: number; unit: string } | undefined {
  const negative = bytes < 0;
  let abs = Math.abs(bytes);
  let i = 0;
  let base = 1;
  while (abs >= base * 1000 && i < decimalUnits.length - 1) {
    base *= 1000;
    i++;
  }
  if (i === 0) return undefined;
  abs = abs / base;
  return { value: negative ? -abs : abs, unit: decimalUnits[i]! };
}

/** Rounds a double's exact decimal expansion to `digits` places, ties to even (Go's big.Float). */
export function toFixedEven(value: number, digits: number): string {
  const negative = value < 0;
  // Up to 60 significant digits is the exact expansion for the magnitudes printed here.
  const [intPart, fracPart = ''] = Math.abs(value).toPrecision(60).split('.');
  const kept = fracPart.slice(0, digits).padEnd(digits, '0');
  const rest = fracPart.slice(digits);
  let n = BigInt(intPart! + kept);
  const first = rest[0] ?? '0';
  const beyondHalf = /[1-9]/.test(rest.slice(1));
  if (first > '5' || (first === '5' && (beyondHalf || n % 2n === 1n))) n += 1n;
  const text = n.toString().padStart(digits + 1, '0');
  const out = digits > 0 ? `${text.slice(0, -digits)}.${text.slice(-digits)}` : text;
  return negative && n !== 0n ? '-' + out : out;
}

/** `fmt.Sprintf("%.2f", units.Bytes(n))`: `123B`, `1.23kB`, `3.09MB`. */
export function formatBytes(bytes: number | bigint): string {
  const n = Number(bytes);
  const s = scaled(n);
  return s ? `${toFixedEven(s.value, 2)}${s.unit}` : `${n}B`;
}

/** `fmt.Sprintf("%g", units.Bytes(n))`: shortest form, e.g. `512MB`, `26GB`, `1.5kB`. */
export function formatBytesShort(bytes: number | bigint): string {
  const n = Number(bytes);
  const s = scaled(n);
  return s ? `${String(s.value)}${s.unit}` : `${n}B`;
}
