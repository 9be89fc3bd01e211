import { open } from 'node:fs/promises';

/** Flushes a directory's entries, so a rename into it survives a crash. */
export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
