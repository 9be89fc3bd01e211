import { toBinary } from '@bufbuild/protobuf';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Duplex, PassThrough, Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Executor, ExecMount } from '../../executor/index.js';
import type { Platform } from '../../oci/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import type { WorkerRecord } from '../../proto/gen/moby/buildkit/v1/types/worker_pb.js';
import type { CacheMounts } from '../cache-mounts.js';
import type { GatewayClient, GatewayResult } from '../gateway-client.js';
import type { JobGateway } from '../gateway.js';
import { newId } from '../job.js';
import { materialized } from '../op.js';
import { FrontendBridge, type GatewayErrorMapping } from './bridge-service.js';
import { GatewayContainers, type ContainerSnapshots } from './containers.js';
import { FrontendExitedError, FrontendImageError, FrontendUnresponsiveError } from './errors.js';
import type { FrontendImage } from './frontend-image.js';
import { frontendProcess, type FrontendWorker } from './frontend-process.js';
import { serveLlbBridge } from './stdio-server.js';

/** Everything a frontend run needs from the daemon. */
export interface FrontendRunDeps {
  readonly executor: Executor;
  readonly snapshots: ContainerSnapshots;
  readonly cacheMounts?: CacheMounts;
  readonly errors: GatewayErrorMapping;
  readonly gatewayCaps: ReadonlyArray<{ readonly id: string; readonly deprecated?: boolean }>;
  readonly llbCaps: ReadonlyArray<{ readonly id: string; readonly enabled: boolean }>;
  readonly worker: FrontendWorker;
  readonly workerRecord: WorkerRecord;
  /** A directory for per-run files (the metadata mount). */
  readonly stateDir: string;
  readonly defaultNetwork: 'host' | 'none';
  readonly product: string;
  readonly logger?: Logger;
}

export interface FrontendRunRequest {
  readonly client: GatewayClient;
  readonly gateway: JobGateway;
  readonly image: FrontendImage;
  readonly network: 'none' | 'sandbox';
  /** Stop a frontend that makes no call for this long without having returned. */
  readonly idleTimeoutMs: number;
  /** How long a frontend that has returned may take to exit before it is killed. */
  readonly exitGraceMs: number;
  readonly signal: AbortSignal;
}

/** Keeps the last lines a process wrote (for the error when it crashes) and logs them. */
function lineTail(limit: number, log: (line: string) => void): { stream: Writable; lines: () => string[] } {
  const lines: string[] = [];
  let partial = '';
  const keep = (line: string): void => {
    log(line);
    lines.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
    if (lines.length > limit) lines.shift();
  };
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) keep(line);
      callback();
    },
  });
  return { stream, lines: () => (partial ? [...lines, partial] : [...lines]) };
}

/**
 * Runs a frontend image once: its filesystem mounted read-only (a tmpfs on /tmp), the frontend
 * definition at /run/config/buildkit/metadata/frontend.bin, BuildKit's environment, the network
 * as decided, and LLBBridge served over its stdin/stdout. Resolves with what it returned.
 *
 * Outcomes, first match wins: an error the frontend returned; the job's cancellation; the idle
 * timeout (FrontendUnresponsiveError); a result it returned (then it has `exitGraceMs` to exit
 * before it is killed); otherwise FrontendExitedError with its exit code and last stderr lines.
 * Every container it created is released and every mount removed before this settles.
 */
export async function runFrontendContainer(
  deps: FrontendRunDeps,
  request: FrontendRunRequest,
): Promise<GatewayResult> {
  const { gateway, image, signal } = request;
  const root = (await materialized(gateway.resolve(image.root), signal)).snapshot;
  if (root === undefined)
    throw new FrontendImageError({ image: image.name, reason: 'it has no filesystem to run' });
  const platform: Platform = deps.worker.platforms[0]!;
  const stop = new AbortController();
  const onJobAbort = (): void => stop.abort(signal.reason);
  signal.addEventListener('abort', onJobAbort, { once: true });
  const key = `gateway-frontend-${newId()}`;
  await mkdir(deps.stateDir, { recursive: true });
  const metadataDir = await mkdtemp(join(deps.stateDir, 'metadata-'));
  const containers = new GatewayContainers({
    executor: deps.executor,
    snapshots: deps.snapshots,
    ...(deps.cacheMounts ? { cacheMounts: deps.cacheMounts } : {}),
    gateway,
    checkRef: (id) => bridge.checkRef(id),
    defaultPlatform: platform,
    defaultNetwork: deps.defaultNetwork,
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  const bridge = new FrontendBridge({
    client: request.client,
    gateway,
    containers,
    errors: deps.errors,
    gatewayCaps: deps.gatewayCaps,
    llbCaps: deps.llbCaps,
    worker: deps.workerRecord,
    signal: stop.signal,
  });
  const toFrontend = new PassThrough();
  const fromFrontend = new PassThrough();
  const server = serveLlbBridge(
    bridge.service(),
    Duplex.from({ readable: fromFrontend, writable: toFrontend }),
  );
  const stderr = lineTail(20, (line) =>
    deps.logger?.debug({ frontend: image.name, line }, 'frontend stderr'),
  );
  let unresponsive: FrontendUnresponsiveError | undefined;
  let killedAfterReturn = false;
  const watchdog = setInterval(
    () => {
      if (!bridge.returned && bridge.idleMs() > request.idleTimeoutMs) {
        unresponsive ??= new FrontendUnresponsiveError({ image: image.name, idleMs: request.idleTimeoutMs });
        stop.abort(unresponsive);
      }
    },
    Math.min(1000, request.idleTimeoutMs),
  );
  let grace: NodeJS.Timeout | undefined;
  void bridge.result.then(
    () => {
      grace = setTimeout(() => {
        killedAfterReturn = true;
        stop.abort(new Error('the frontend did not exit after returning'));
      }, request.exitGraceMs);
    },
    () => undefined,
  );
  let exit: { code: number } | { error: unknown };
  try {
    if (image.definition) {
      await writeFile(join(metadataDir, 'frontend.bin'), toBinary(DefinitionSchema, image.definition), {
        mode: 0o400,
      });
    }
    // Writable underneath, read-only in the container: the runtime creates mount points first.
    const rootfs = await deps.snapshots.prepare(key, root);
    const mounts: ExecMount[] = [
      { kind: 'tmpfs', dest: '/tmp' },
      { kind: 'bind', dest: '/run/config/buildkit/metadata', source: metadataDir, readonly: true },
    ];
    exit = await deps.executor
      .run(
        frontendProcess({
          config: image.config,
          opts: request.client.frontendOpt,
          sessionId: request.client.sessionId,
          worker: deps.worker,
          product: deps.product,
        }),
        {
          rootfs,
          readonlyRootfs: true,
          mounts,
          platform,
          network: request.network === 'none' ? 'none' : deps.defaultNetwork,
          security: 'sandbox',
          stdin: toFrontend,
          stdout: fromFrontend,
          stderr: stderr.stream,
          signal: stop.signal,
          removeMountStubsRecursive: true,
        },
      )
      .then(
        (code) => ({ code }),
        (error: unknown) => ({ error }),
      );
  } finally {
    clearInterval(watchdog);
    clearTimeout(grace);
    signal.removeEventListener('abort', onJobAbort);
    fromFrontend.end();
    server.close();
    stop.abort(new Error('the frontend has ended'));
    await containers
      .releaseAll()
      .catch((err: unknown) => deps.logger?.warn({ err }, 'releasing gateway containers failed'));
    await deps.snapshots.remove(key).catch(() => undefined);
    await rm(metadataDir, { recursive: true, force: true });
  }
  if (bridge.returned) {
    // Returned an error: that is the build's error. Returned a result: it stands, however the
    // process ended afterwards (it may have been killed for not exiting).
    const result = await bridge.result;
    if ('code' in exit && exit.code !== 0)
      deps.logger?.warn(
        { frontend: image.name, exitCode: exit.code },
        'frontend exited non-zero after returning',
      );
    if (killedAfterReturn)
      deps.logger?.warn({ frontend: image.name }, 'frontend killed: it did not exit after returning');
    return result;
  }
  signal.throwIfAborted();
  if (unresponsive) throw unresponsive;
  if ('error' in exit) throw exit.error;
  throw new FrontendExitedError({ image: image.name, exitCode: exit.code, stderr: stderr.lines() });
}
