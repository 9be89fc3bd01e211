import { cleanPath } from '../../../llb/index.js';

/** Go's path.Clean (no trailing slash, `.` for empty). */
export const goClean = cleanPath;

/** Go's path.Join: empty elements dropped, the result cleaned; '' when all are empty. */
export function goJoin(...elems: string[]): string {
  const parts = elems.filter((e) => e !== '');
  return parts.length === 0 ? '' : cleanPath(parts.join('/'));
}

export function isAbs(path: string): boolean {
  return path.startsWith('/');
}
