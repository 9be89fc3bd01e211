import { join } from 'node:path';
import Database from 'better-sqlite3';

/** Opens the daemon's SQLite database (`<root>/kiln.db`) in WAL mode; subsystems add their tables. */
export function openDatabase(root: string): Database.Database {
  const db = new Database(join(root, 'kiln.db'));
  db.pragma('journal_mode = WAL');
  // WAL with NORMAL sync is crash-safe (a crash loses at most the last commits, never corrupts).
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  return db;
}
