import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Platform } from '../oci/index.js';
import { sendDirectory, sendStream } from '../session/index.js';
import { tarTrailer } from '../snapshotter/index.js';
import type { BuildResult, ExporterRequest, Job, ResultRef, SnapshotAccess } from '../solver/index.js';
import { parseBool, sourceDateEpoch } from './attributes.js';
import { asVertex, jobSession, type ExportServices } from './context.js';
import { resultPlatforms } from './platforms.js';
import { step } from './progress.js';
import { treeMembers } from './tree-tar.js';

/** One tree of a result and the directory it goes to (`linux_amd64`), if split by platform. */
export interface OutputTree {
  readonly ref: ResultRef;
  readonly prefix?: string;
}

/**
 * The trees to send: one per platform. Multi-platform results go into one directory per platform
 * (`os_arch[_variant]`) unless `platform-split=false` merges them; `platform-split=true` splits
 * even a single-platform result.
 */
export function outputTrees(
  result: BuildResult,
  attrs: Readonly<Record<string, string>>,
  defaultPlatform: Platform,
): OutputTree[] {
  const { multi, entries } = resultPlatforms(result, defaultPlatform);
  const split = parseBool(attrs, 'platform-split', multi);
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
  list: readonly OutputTree[],
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
  const list = outputTrees(result, request.attrs, services.defaultPlatform);
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
  const list = outputTrees(result, request.attrs, services.defaultPlatform);
  const mtime = sourceDateEpoch(request.attrs, job.options.frontendAttrs, result.metadata);
  await asVertex(job, 'exporting to client tarball', async (progress) => {
    const session = await jobSession(services, job);
    await withResultTar(services.access, list, { mtime, signal: job.signal }, (tar) =>
      step(progress, 'sending tarball', () => sendStream(session, tar, { signal: job.signal })),
    );
  });
  return {};
}

/**
 * Runs `consume` with the trees of a result as one tar stream: each under its directory when
 * split, one after the other otherwise (later platforms' files then follow earlier ones of the
 * same name, and win on extraction). Every tree stays mounted until `consume` settles.
 */
export function withResultTar<T>(
  access: SnapshotAccess,
  list: readonly OutputTree[],
  options: { mtime?: number | undefined; signal: AbortSignal },
  consume: (tar: AsyncIterable<Buffer>) => Promise<T>,
): Promise<T> {
  const { mtime, signal } = options;
  return withTrees(
    access,
    list,
    (dirs) =>
      consume(
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
      ),
    signal,
  );
}
