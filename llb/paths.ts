import { posix } from 'node:path';

// Go's path package semantics, which BuildKit's client applies to every path it writes into LLB.

/** Go's path.Clean. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** Go's path.Join: empty elements dropped, the result cleaned; "" when all are empty. */
export function joinPath(...elems: string[]): string {
  const parts = elems.filter((e) => e !== '');
  return parts.length === 0 ? '' : cleanPath(parts.join('/'));
}

export function isAbsPath(p: string): boolean {
  return p.startsWith('/');
}
