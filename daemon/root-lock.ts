import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RootInUseError } from './errors.js';

/**
 * Exclusive ownership of a root directory. The lock is an SQLite database held in exclusive
 * locking mode: the kernel releases it when the process dies, so a crashed daemon never leaves
 * a stale lock behind, and a second daemon on the same root fails at once.
 */
export class RootLock {
  readonly #db: Database.Database;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  static async acquire(root: string): Promise<RootLock> {
    await mkdir(root, { recursive: true, mode: 0o711 });
    const db = new Database(join(root, 'kilnd.lock'), { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      // The lock is taken by the first write and kept for the connection's lifetime.
      db.exec('CREATE TABLE IF NOT EXISTS owner (pid INTEGER); DELETE FROM owner;');
      db.prepare('INSERT INTO owner (pid) VALUES (?)').run(process.pid);
    } catch (cause) {
      db.close();
      if ((cause as { code?: string }).code === 'SQLITE_BUSY') {
        throw new RootInUseError(root, await readPid(root));
      }
      throw cause;
    }
    await writeFile(join(root, 'kilnd.pid'), `${process.pid}\n`);
    return new RootLock(db);
  }

  release(): void {
    if (this.#db.open) this.#db.close();
  }
}

async function readPid(root: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(join(root, 'kilnd.pid'), 'utf8'), 10);
    return Number.isFinite(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
