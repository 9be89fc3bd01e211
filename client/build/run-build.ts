import { basename } from 'node:path';
import type { ControlClient } from '../control-client.js';
import { daemonError } from '../daemon-error.js';
import { BuildFailedError, DaemonError } from '../errors.js';
import { solveStatusFromResponse, type SolveStatus } from '../progress/index.js';
import { newSessionId, openSession, type SessionHandle } from '../session/index.js';
import { AsyncQueue } from './async-queue.js';
import type { BuildOptions, BuildResult } from './build-options.js';
import { runGatewayBuild } from './gateway.js';
import { prepareBuild } from './prepare.js';

/** How long the status stream may outlive `Control.Solve` before it is cancelled (buildctl: 3 s). */
const statusGraceMs = 3000;

/**
 * A running build: a Promise of the BuildResult, plus its `ref` and its `progress` — SolveStatus
 * updates to iterate once, buffered until read, ending when the daemon's status stream ends.
 * Aborting the `signal` of its options cancels the build on the daemon. A rejection nobody
 * awaits is not reported as unhandled (progress-only consumers are common).
 */
export type BuildRun = Promise<BuildResult> & {
  readonly ref: string;
  readonly progress: AsyncIterable<SolveStatus>;
};

/** Starts a build over `control`; see Client.build. */
export function startBuild(control: ControlClient, options: BuildOptions): BuildRun {
  const ref = options.ref ?? newSessionId();
  const progress = new AsyncQueue<SolveStatus>();
  const result = runBuild(control, { ...options, ref }, progress);
  result.catch(() => undefined);
  return Object.assign(result, { ref, progress });
}

function solveFailure(ref: string, err: unknown, canceled: boolean): BuildFailedError {
  if (canceled) {
    return new BuildFailedError({
      ref,
      kind: 'canceled',
      message: 'failed to solve: Canceled: context canceled',
      cause: err,
    });
  }
  if (err instanceof BuildFailedError) return err;
  const e = err as Error & { kind?: BuildFailedError['kind'] };
  return new BuildFailedError({
    ref,
    kind: e.kind ?? 'unknown',
    message: `failed to solve: ${e.message}`,
    ...(err instanceof DaemonError ? { sources: err.sources } : {}),
    cause: err,
  });
}

async function runBuild(
  control: ControlClient,
  options: BuildOptions & { ref: string },
  progress: AsyncQueue<SolveStatus>,
): Promise<BuildResult> {
  const ref = options.ref;
  const abort = new AbortController();
  const onAbort = (): void => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const statusAbort = new AbortController();
  let session: SessionHandle | undefined;
  let statusDone: Promise<void> = Promise.resolve();
  try {
    options.signal?.throwIfAborted();
    const prepared = await prepareBuild(options);
    await control.listWorkers().catch((err: unknown) => {
      throw daemonError(err, 'Control.ListWorkers', 'listing workers for Build: failed to list workers');
    });

    session = openSession((metadata) => control.session(metadata), {
      name: options.sessionName ?? basename(process.cwd()),
      providers: prepared.providers,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const sessionId = session.id;
    session.done.catch(() => undefined);

    let statusError: unknown;
    statusDone = (async () => {
      try {
        for await (const resp of control.status(ref, statusAbort.signal))
          progress.push(solveStatusFromResponse(resp));
      } catch (err) {
        if (!statusAbort.signal.aborted)
          statusError = daemonError(err, 'Control.Status', 'failed to receive status');
      } finally {
        progress.end();
      }
    })();

    const [first] = prepared.exporters;
    const solve = control.solve(
      {
        Ref: ref,
        Session: sessionId,
        Frontend: '',
        FrontendAttrs: prepared.frontendAttrs,
        ...(first ? { Exporter: first.Type, ExporterAttrs: first.Attrs, Exporters: prepared.exporters } : {}),
        Cache: { Exports: prepared.cacheExports, Imports: prepared.cacheImports },
        Entitlements: [...(options.allow ?? [])],
        ...(options.sourcePolicy ? { SourcePolicy: options.sourcePolicy } : {}),
      },
      abort.signal,
    );
    solve.catch(() => undefined);
    const gateway = runGatewayBuild(
      control,
      ref,
      {
        frontend: prepared.frontend,
        frontendOpt: prepared.frontendAttrs,
        ...(prepared.definition ? { definition: prepared.definition } : {}),
      },
      abort.signal,
    );
    gateway.catch(() => undefined);

    let response: Record<string, string>;
    try {
      response = (await solve).ExporterResponse;
    } catch (err) {
      throw solveFailure(ref, daemonError(err, 'Control.Solve'), abort.signal.aborted);
    }
    let metadata: Record<string, Uint8Array>;
    try {
      metadata = await gateway;
    } catch (err) {
      throw solveFailure(ref, err, abort.signal.aborted);
    }
    await closeQuietly(session);
    session = undefined;
    await finishStatus(statusDone, statusAbort);
    if (statusError) throw statusError;
    await prepared.finish(response);
    return { ref, response, metadata };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    // A cancelled build's progress is not worth waiting for (buildctl exits at once on Ctrl-C).
    if (abort.signal.aborted) statusAbort.abort();
    if (session) await closeQuietly(session);
    await finishStatus(statusDone, statusAbort);
    progress.end();
  }
}

async function closeQuietly(session: SessionHandle): Promise<void> {
  await session.close().catch(() => undefined);
}

/** Waits for the status stream to end by itself, cancelling it after the grace period. */
async function finishStatus(done: Promise<void>, abort: AbortController): Promise<void> {
  const timer = setTimeout(() => abort.abort(), statusGraceMs);
  try {
    await done;
  } finally {
    clearTimeout(timer);
  }
}
