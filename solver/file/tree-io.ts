import type { Stats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { FileSystemError } from './errors.js';

/**
 * Filesystem calls on trees whose host paths must not reach users: failures become
 * FileSystemErrors naming the path inside its tree (`/app/x`, not `/var/lib/kiln/…/app/x`).
 * Errors that already carry a `kind` (our own) pass through unchanged.
 */
export class TreeIo {
  constructor(private readonly roots: readonly string[]) {}

  /** Runs `fn` (sync, or returning a promise), mapping its failure. */
  run<T>(operation: string, path: string, fn: () => T): T {
    const wrap = (err: unknown): never => {
      if (err instanceof Error && 'kind' in err) throw err;
      throw new FileSystemError({ operation, path: this.show(path), cause: err });
    };
    try {
      const out = fn();
      if (out instanceof Promise) return out.catch(wrap) as T;
      return out;
    } catch (err) {
      return wrap(err);
    }
  }

  /** lstat that treats a missing path (or a non-directory on the way) as undefined. */
  lstat(path: string): Stats | undefined {
    try {
      return lstatSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw new FileSystemError({ operation: 'stat', path: this.show(path), cause: err });
    }
  }

  /** The path inside whichever root holds `host`. */
  show(host: string): string {
    for (const root of this.roots) {
      if (host === root) return '/';
      if (host.startsWith(`${root}/`)) return host.slice(root.length);
    }
    return host;
  }
}
