import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Digester, type Digest } from '../oci/index.js';
import type { ContentDb } from './store-db.js';

/** What a startup reconciliation changed. */
export interface ReconcileReport {
  /** Files removed from `ingest/` (writes interrupted by a crash). */
  readonly debris: number;
  /** Rows dropped because their blob file was missing. */
  readonly dropped: Digest[];
  /** Blob files without a row whose content matched their name, now recorded. */
  readonly adopted: Digest[];
  /** Blob files removed because their content did not match their name (or the name was no digest). */
  readonly removed: string[];
}

const hexName = /^[a-f0-9]{64}$/;

async function hashFile(path: string, signal?: AbortSignal): Promise<{ digest: Digest; size: number }> {
  const digester = new Digester();
  for await (const chunk of createReadStream(path, { signal })) digester.update(chunk as Buffer);
  return { digest: digester.digest(), size: digester.size };
}

/** Brings the blob directory and the content tables into agreement (see LocalContentStore.reconcile). */
export async function reconcile(options: {
  root: string;
  db: ContentDb;
  logger?: Logger;
  signal?: AbortSignal;
}): Promise<ReconcileReport> {
  const { root, db, logger, signal } = options;
  const ingest = join(root, 'ingest');
  const debris = await readdir(ingest);
  for (const name of debris) await rm(join(ingest, name), { recursive: true, force: true });

  const blobs = join(root, 'blobs', 'sha256');
  const files = new Set(await readdir(blobs));
  const dropped: Digest[] = [];
  for (const info of db.all()) {
    if (files.delete(info.digest.slice('sha256:'.length))) continue;
    db.deleteBlob(info.digest);
    dropped.push(info.digest);
  }
  const adopted: Digest[] = [];
  const removed: string[] = [];
  for (const name of files) {
    signal?.throwIfAborted();
    const path = join(blobs, name);
    const st = await stat(path);
    if (st.isFile() && hexName.test(name)) {
      const { digest, size } = await hashFile(path, signal);
      if (digest === `sha256:${name}`) {
        db.publish({ digest, size, now: st.mtimeMs });
        adopted.push(digest);
        continue;
      }
    }
    await rm(path, { recursive: true, force: true });
    removed.push(name);
  }
  const report = { debris: debris.length, dropped, adopted, removed };
  if (debris.length + dropped.length + adopted.length + removed.length > 0) {
    logger?.info(
      { debris: debris.length, dropped: dropped.length, adopted: adopted.length, removed: removed.length },
      'content store reconciled',
    );
  }
  return report;
}
