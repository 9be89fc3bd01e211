import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { digestHex, sha256 } from '../oci/index.js';

export type CacheSharing = 'shared' | 'private' | 'locked';

export interface CacheMountLease {
  /** Host directory to bind-mount at the step's target. */
  readonly dir: string;
  /** True when the directory was just created (so it may be seeded from an input). */
  readonly created: boolean;
  release(): void;
}

/**
 * Fills a cache directory `acquire` has just created (an imported cache mount, restored before
 * the first step that uses it). Resolves true when it filled `dir`, false to leave it to the next
 * seeder. A seeder that throws leaves an empty directory behind: a cache is only an optimisation.
 */
export type CacheMountSeeder = (id: string, dir: string, signal?: AbortSignal) => Promise<boolean>;

interface Slot {
  users: number;
  waiters: Array<() => void>;
}

/**
 * Persistent directories for `RUN --mount=type=cache`, one per id (and per instance for
 * `private` sharing), surviving builds and daemon restarts. Sharing as BuildKit defines it:
 * `shared` lets every step use the same directory at once, `locked` gives it to one step at a
 * time (the others wait), `private` gives each concurrent step its own directory.
 */
export class CacheMounts {
  readonly #root: string;
  readonly #slots = new Map<string, Slot>();
  readonly #seeders = new Set<CacheMountSeeder>();
  /** Directories being seeded: other users of the id wait for the contents. */
  readonly #seeding = new Map<string, Promise<void>>();
  readonly #touch: Database.Statement<[string, string, number, number]>;
  readonly #all: Database.Statement<[], CacheMountRow>;
  readonly #delete: Database.Statement<[string]>;

  constructor(options: { root: string; db: Database.Database }) {
    this.#root = options.root;
    options.db.exec(`CREATE TABLE IF NOT EXISTS solver_cache_mounts (
      dir TEXT PRIMARY KEY, id TEXT NOT NULL, created_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL
    )`);
    this.#touch = options.db
      .prepare(`INSERT INTO solver_cache_mounts (dir, id, created_at, last_used_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (dir) DO UPDATE SET last_used_at = excluded.last_used_at`);
    this.#all = options.db.prepare('SELECT * FROM solver_cache_mounts ORDER BY last_used_at');
    this.#delete = options.db.prepare('DELETE FROM solver_cache_mounts WHERE dir = ?');
  }

  async acquire(id: string, sharing: CacheSharing, signal?: AbortSignal): Promise<CacheMountLease> {
    const base = digestHex(sha256(id)).slice(0, 32);
    let name = base;
    if (sharing === 'private') {
      for (let n = 1; (this.#slots.get(name)?.users ?? 0) > 0; n++) name = `${base}-${n}`;
    } else if (sharing === 'locked') {
      await this.#waitFree(name, signal);
    }
    const slot = this.#slot(name);
    slot.users++;
    const dir = join(this.#root, name);
    let created = false;
    try {
      await mkdir(dir, { recursive: false, mode: 0o755 });
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(this.#root, { recursive: true, mode: 0o711 });
        // Concurrent first users of an id both land here: one of them creates it.
        created = await mkdir(dir, { mode: 0o755 }).then(
          () => true,
          (e: NodeJS.ErrnoException) => {
            if (e.code === 'EEXIST') return false;
            slot.users--;
            throw e;
          },
        );
      } else if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        slot.users--;
        throw err;
      }
    }
    try {
      if (created && this.#seeders.size > 0) {
        const seeding = this.#seed(id, dir, signal).finally(() => this.#seeding.delete(name));
        this.#seeding.set(name, seeding);
        await seeding;
      } else {
        await this.#seeding.get(name);
      }
    } catch (err) {
      slot.users--;
      slot.waiters.shift()?.();
      throw err;
    }
    const now = Date.now();
    this.#touch.run(dir, id, now, now);
    let released = false;
    return {
      dir,
      created,
      release: () => {
        if (released) return;
        released = true;
        slot.users--;
        slot.waiters.shift()?.();
      },
    };
  }

  /**
   * Registers a seeder, asked (in registration order) to fill each directory `acquire` creates
   * from then on; the returned function unregisters it. Directories that exist are never seeded.
   */
  addSeeder(seeder: CacheMountSeeder): () => void {
    this.#seeders.add(seeder);
    return () => {
      this.#seeders.delete(seeder);
    };
  }

  async #seed(id: string, dir: string, signal: AbortSignal | undefined): Promise<void> {
    for (const seeder of [...this.#seeders]) {
      try {
        if (await seeder(id, dir, signal)) return;
      } catch {
        // A half-restored cache is worse than none: start empty (also when the step was cancelled).
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { mode: 0o755 });
        signal?.throwIfAborted();
        return;
      }
    }
  }

  /** Every cache mount directory kiln keeps, least recently used first. */
  list(): Array<{ dir: string; id: string; createdAt: Date; lastUsedAt: Date; inUse: boolean }> {
    return this.#all.all().map((row) => ({
      dir: row.dir,
      id: row.id,
      createdAt: new Date(row.created_at),
      lastUsedAt: new Date(row.last_used_at),
      inUse: (this.#slots.get(row.dir.slice(this.#root.length + 1))?.users ?? 0) > 0,
    }));
  }

  /** Forgets a directory (the caller deletes it); refuses one in use. */
  forget(dir: string): boolean {
    if ((this.#slots.get(dir.slice(this.#root.length + 1))?.users ?? 0) > 0) return false;
    this.#delete.run(dir);
    return true;
  }

  #slot(name: string): Slot {
    let slot = this.#slots.get(name);
    if (!slot) this.#slots.set(name, (slot = { users: 0, waiters: [] }));
    return slot;
  }

  async #waitFree(name: string, signal: AbortSignal | undefined): Promise<void> {
    const slot = this.#slot(name);
    while (slot.users > 0) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          slot.waiters.splice(slot.waiters.indexOf(wake), 1);
          reject(signal?.reason);
        };
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        slot.waiters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }
}

interface CacheMountRow {
  dir: string;
  id: string;
  created_at: number;
  last_used_at: number;
}
