import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sendDirectory, sendStream } from '../session/index.js';
import type { BuildResult, ExporterRequest, Job, ResultRef, SnapshotAccess } from '../solver/index.js';
import { parseBool, sourceDateEpoch } from './attributes.js';
import { asVertex, jobSession, type ExportServices } from './context.js';
import { resultPlatforms } from './platforms.js';
import { step } from './progress.js';
import { treeMembers } from './tree-tar.js';
import { tarTrailer } from '../snapshotter/index.js';

/** One tree of a result and the directory it goes to (`linux_amd64`), if split by platform. */
interface Tree {
  readonly ref: ResultRef;
  readonly prefix?: string;
}

/**
 * The trees to send: one per platform. Multi-platform results go into one directory per platform
 * (`os_arch[_variant]`) unless `platform-split=false` merges them; `platform-split=true` splits
 * even a single-platform result.
 */
function trees(services: ExportServices, request: ExporterRequest, result: BuildResult): Tree[] {
  const { multi, entries } = resultPlatforms(result, services.defaultPlatform);
  const split = parseBool(request.attrs, 'platform-split', multi);
  return entries.map(({ id, ref }) => ({ ref, ...(split ? { prefix: id.replaceAll('/', '_') } : {}) }));
}

/** Runs `fn` with the directory of `ref` (an empty one for an empty result), mounted for the duration. */
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

/** Runs `fn` with every tree mounted at once. */
async function withTrees<T>(
  access: SnapshotAccess,
  list: readonly Tree[],
  fn: (dirs: string[]) => Promise<T>,
  signal: AbortSignal,
  dirs: string[] = [],
): Promise<T> {
  const [first, ...rest] = list;
  if (!first) return fn(dirs);
  return withTree(access, first.ref, (dir) => withTrees(access, rest, fn, signal, [...dirs, dir]), signal);
}

/**
 * `--output type=local,dest=DIR`: the result's files sent into the client's directory, one
 * FileSend stream per platform (as BuildKit). Answers nothing.
 */
export async function exportLocal(
  services: ExportServices,
  request: ExporterRequest,
  result: BuildResult,
  job: Job,
): Promise<Record<string, string>> {
  const list = trees(services, request, result);
  await asVertex(job, 'exporting to client directory', async () => {
    const session = await jobSession(services, job);
    for (const { ref, prefix } of list) {
      await withTree(
        services.access,
        ref,
        (root) => sendDirectory(session, { root, signal: job.signal, ...(prefix ? { prefix } : {}) }),
        job.signal,
      );
    }
  });
  return {};
}

/**
 * `--output type=tar,dest=FILE`: the result's files as one tar stream to the client; each
 * platform under its own directory for multi-platform results (see `platform-split`). With
 * SOURCE_DATE_EPOCH every member's mtime is the epoch. Answers nothing.
 */
export async function exportTar(
  services: ExportServices,
  request: ExporterRequest,
  result: BuildResult,
  job: Job,
): Promise<Record<string, string>> {
  const list = trees(services, request, result);
  const mtime = sourceDateEpoch(request.attrs, job.options.frontendAttrs, result.metadata);
  await asVertex(job, 'exporting to client tarball', async (progress) => {
    const session = await jobSession(services, job);
    await withTrees(
      services.access,
      list,
      (dirs) =>
        step(progress, 'sending tarball', () =>
          sendStream(
            session,
            (async function* () {
              for (const [i, dir] of dirs.entries()) {
                const prefix = list[i]!.prefix;
                yield* treeMembers(dir, {
                  ...(prefix ? { prefix } : {}),
                  ...(mtime !== undefined ? { mtime } : {}),
                });
              }
              yield tarTrailer;
            })(),
            { signal: job.signal },
          ),
        ),
      job.signal,
    );
  });
  return {};
}
