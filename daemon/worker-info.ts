import { create } from '@bufbuild/protobuf';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { WorkerRecordSchema, type WorkerRecord } from '../proto/gen/moby/buildkit/v1/types/worker_pb.js';
import type { Platform } from '../oci/index.js';
import { newId } from '../solver/index.js';

export interface KilnVersion {
  readonly package: string;
  readonly version: string;
  readonly revision: string;
}

/** The one worker kilnd offers, as ListWorkers and LLBBridge.Ping report it. */
export interface WorkerInfo {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Default build platform first. */
  readonly platforms: readonly Platform[];
  readonly version: KilnVersion;
}

/** The worker id, kept in the root so it is stable across restarts. */
export async function loadWorkerId(root: string): Promise<string> {
  const path = join(root, 'worker-id');
  try {
    const id = (await readFile(path, 'utf8')).trim();
    if (/^[a-z0-9]{25}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = newId();
  await writeFile(path, `${id}\n`);
  return id;
}

export function workerLabels(options: { snapshotter: string; networkMode: string }): Record<string, string> {
  return {
    'org.mobyproject.buildkit.worker.executor': 'oci',
    'org.mobyproject.buildkit.worker.hostname': hostname(),
    'org.mobyproject.buildkit.worker.network': options.networkMode,
    'org.mobyproject.buildkit.worker.oci.process-mode': 'sandbox',
    'org.mobyproject.buildkit.worker.selinux.enabled': 'false',
    'org.mobyproject.buildkit.worker.snapshotter': options.snapshotter,
  };
}

export function toWorkerRecord(worker: WorkerInfo): WorkerRecord {
  return create(WorkerRecordSchema, {
    ID: worker.id,
    Labels: { ...worker.labels },
    platforms: worker.platforms.map((p) => ({
      Architecture: p.architecture,
      OS: p.os,
      Variant: p.variant ?? '',
    })),
    BuildkitVersion: { ...worker.version },
  });
}
