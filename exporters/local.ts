import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Session } from '../session/index.js';
import { sendDirectory, sendStream } from '../session/index.js';
import type { BuildResult, Job, ResultRef, SnapshotAccess } from '../solver/index.js';
import { SyntheticVertex } from '../solver/index.js';
import { ExporterRequestError } from './errors.js';
import { treeTar } from './tree-tar.js';

/** One tree of a result: `prefix` is the per-platform directory for multi-platform results. */
function trees(result: BuildResult): Array<{ ref: ResultRef; prefix?: string }> {
  if (result.refs && result.refs.size > 0) {
    return [...result.refs].map(([platform, ref]) => ({ ref, prefix: platform.replaceAll('/', '_') }));
  }
  return [{ ref: result.ref ?? { snapshot: undefined } }];
}

async function withTree<T>(
  access: SnapshotAccess,
  ref: ResultRef,
  fn: (dir: string) => Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  if (!ref.snapshot) {
    const empty = await mkdtemp(join(tmpdir(), 'kiln-empty-'));
    try {
      return await fn(empty);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  }
  return access.withTree(ref.snapshot, fn, signal);
}

/** `--output type=local,dest=DIR`: the result's files, sent into the client's directory. */
export async function exportLocal(
  result: BuildResult,
  context: { job: Job; session: Session; access: SnapshotAccess },
): Promise<Record<string, string>> {
  const { job, session, access } = context;
  await new SyntheticVertex(job.progress, 'exporting to client directory').run(async () => {
    for (const { ref, prefix } of trees(result)) {
      await withTree(
        access,
        ref,
        (root) => sendDirectory(session, { root, signal: job.signal, ...(prefix ? { prefix } : {}) }),
        job.signal,
      );
    }
  });
  return {};
}

/** `--output type=tar,dest=FILE`: the result's files as one tar stream to the client. */
export async function exportTar(
  result: BuildResult,
  context: { job: Job; session: Session; access: SnapshotAccess },
): Promise<Record<string, string>> {
  const { job, session, access } = context;
  const list = trees(result);
  if (list.length > 1) {
    throw new ExporterRequestError(
      'tar export of a multi-platform result is not supported yet; use type=local',
    );
  }
  await new SyntheticVertex(job.progress, 'exporting to client tarball').run(() =>
    withTree(
      access,
      list[0]!.ref,
      (root) => sendStream(session, treeTar(root), { signal: job.signal }),
      job.signal,
    ),
  );
  return {};
}
