import { setTimeout as sleep } from 'node:timers/promises';
import type { Platform } from '../oci/index.js';
import { Insight } from '../proto/gen/kiln/v1/insight_pb.js';
import type { BuildHistoryEvent, UsageRecord } from '../proto/gen/moby/buildkit/v1/control_pb.js';
import type { BuildOptions } from './build/build-options.js';
import { startBuild, type BuildRun } from './build/run-build.js';
import { checkAddress, type ClientTls } from './connect.js';
import { ControlClient } from './control-client.js';
import { daemonError } from './daemon-error.js';
import { DaemonError } from './errors.js';
import { ServiceClient, type ConnectOptions } from './grpc-client.js';
import { solveStatusFromResponse, type SolveStatus } from './progress/index.js';

export interface ClientOptions {
  /** `unix:///run/buildkit/buildkitd.sock` or `tcp://host:port`. */
  readonly address: string;
  /** TLS for tcp:// (mutual TLS with `cert` and `key`). */
  readonly tls?: ClientTls;
}

export interface BuildkitVersion {
  readonly package: string;
  readonly version: string;
  readonly revision: string;
}

export interface PruneInfo {
  readonly filter: readonly string[];
  readonly all: boolean;
  /** Nanoseconds (BuildKit's unit). */
  readonly keepDuration: bigint;
  readonly keepBytes: number;
}

export interface WorkerInfo {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly platforms: readonly Platform[];
  readonly gcPolicy: readonly PruneInfo[];
  readonly buildkitVersion: BuildkitVersion;
}

/** One cache record of `du` / `prune`. */
export interface UsageInfo {
  readonly id: string;
  readonly mutable: boolean;
  readonly inUse: boolean;
  readonly size: number;
  readonly createdAt?: Date;
  readonly lastUsedAt?: Date;
  readonly usageCount: number;
  readonly parents: readonly string[];
  readonly description: string;
  readonly recordType: string;
  readonly shared: boolean;
}

export interface PruneOptions {
  readonly filter?: readonly string[];
  /** Include internal and frontend records. */
  readonly all?: boolean;
  /** Keep records used within this many milliseconds. */
  readonly keepDurationMs?: number;
  /** Keep this many bytes of cache. */
  readonly keepBytes?: number;
  readonly signal?: AbortSignal;
}

function date(ts: { seconds: bigint; nanos: number } | undefined): Date | undefined {
  return ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : undefined;
}

/** A UsageRecord as a plain value. */
export function usageInfo(r: UsageRecord): UsageInfo {
  const createdAt = date(r.CreatedAt);
  const lastUsedAt = date(r.LastUsedAt);
  return {
    id: r.ID,
    mutable: r.Mutable,
    inUse: r.InUse,
    size: Number(r.Size),
    ...(createdAt ? { createdAt } : {}),
    ...(lastUsedAt ? { lastUsedAt } : {}),
    usageCount: Number(r.UsageCount),
    parents: r.Parents.length > 0 ? [...r.Parents] : r.Parent ? [r.Parent] : [],
    description: r.Description,
    recordType: r.RecordType,
    shared: r.Shared,
  };
}

function version(v: { package: string; version: string; revision: string } | undefined): BuildkitVersion {
  return { package: v?.package ?? '', version: v?.version ?? '', revision: v?.revision ?? '' };
}

/**
 * A client of a BuildKit-compatible daemon (kilnd or buildkitd): builds through the gateway
 * detour buildctl uses, so it works against both, plus disk usage, prune, workers, info and build
 * history. The gRPC channel connects lazily; calls fail fast with DaemonError (`unavailable`) when
 * the daemon is not there. `close()` releases the channel; the client is unusable afterwards.
 */
export class Client {
  /** The typed Control/LLBBridge client underneath, for calls this class does not wrap. */
  readonly control: ControlClient;
  readonly address: string;
  readonly #connect: ConnectOptions;
  #insight: ServiceClient<typeof Insight> | undefined;

  constructor(options: ClientOptions) {
    checkAddress(options.address);
    this.address = options.address;
    const tls = options.tls;
    const buf = (v: Buffer | string | undefined): Buffer | undefined =>
      v === undefined ? undefined : Buffer.from(v);
    this.#connect = tls
      ? {
          tls: {
            ...(tls.ca ? { ca: buf(tls.ca)! } : {}),
            ...(tls.cert ? { cert: buf(tls.cert)! } : {}),
            ...(tls.key ? { key: buf(tls.key)! } : {}),
            ...(tls.serverName ? { serverName: tls.serverName } : {}),
          },
        }
      : {};
    this.control = new ControlClient(options.address, this.#connect);
  }

  /**
   * Starts a build. The returned BuildRun is a Promise of the BuildResult (exporter response and
   * ref) that also carries `.ref` and `.progress`. Fails with ClientUsageError (bad options, before anything is sent),
   * CapabilityError, DaemonError, or BuildFailedError (`failed to solve: …`, kind `canceled` when
   * the signal aborted it).
   */
  build(options: BuildOptions): BuildRun {
    return startBuild(this.control, options);
  }

  async workers(filter: readonly string[] = []): Promise<WorkerInfo[]> {
    const resp = await this.control.listWorkers([...filter]).catch((err: unknown) => {
      throw daemonError(err, 'Control.ListWorkers', 'failed to list workers');
    });
    return resp.record.map((w) => ({
      id: w.ID,
      labels: { ...w.Labels },
      platforms: w.platforms.map((p) => ({
        os: p.OS,
        architecture: p.Architecture,
        ...(p.Variant ? { variant: p.Variant } : {}),
        ...(p.OSVersion ? { osVersion: p.OSVersion } : {}),
        ...(p.OSFeatures.length ? { osFeatures: [...p.OSFeatures] } : {}),
      })),
      gcPolicy: w.GCPolicy.map((g) => ({
        filter: [...g.filters],
        all: g.all,
        keepDuration: g.keepDuration,
        keepBytes: Number(g.keepBytes),
      })),
      buildkitVersion: version(w.BuildkitVersion),
    }));
  }

  async info(options: { signal?: AbortSignal } = {}): Promise<{ buildkitVersion: BuildkitVersion }> {
    options.signal?.throwIfAborted();
    const resp = await this.control.info().catch((err: unknown) => {
      throw daemonError(err, 'Control.Info', 'failed to call info');
    });
    return { buildkitVersion: version(resp.buildkitVersion) };
  }

  /** Disk usage records (`buildctl du`), optionally filtered (`type==regular`, `id==…`). */
  async du(options: { filter?: readonly string[] } = {}): Promise<UsageInfo[]> {
    const resp = await this.control.diskUsage([...(options.filter ?? [])]).catch((err: unknown) => {
      throw daemonError(err, 'Control.DiskUsage', 'failed to call diskusage');
    });
    return resp.record.map(usageInfo);
  }

  /** Prunes the cache, yielding each removed record as the daemon reports it. */
  async *prune(options: PruneOptions = {}): AsyncIterable<UsageInfo> {
    const stream = this.control.prune(
      {
        filter: [...(options.filter ?? [])],
        all: options.all ?? false,
        keepDuration: BigInt(Math.round((options.keepDurationMs ?? 0) * 1e6)),
        keepBytes: BigInt(Math.round(options.keepBytes ?? 0)),
      },
      options.signal,
    );
    try {
      for await (const record of stream) yield usageInfo(record);
    } catch (err) {
      throw daemonError(err, 'Control.Prune', 'failed to call prune');
    }
  }

  /** The progress of a build by ref; for a finished build, the daemon replays its recorded progress. */
  async *status(ref: string, options: { signal?: AbortSignal } = {}): AsyncIterable<SolveStatus> {
    try {
      for await (const resp of this.control.status(ref, options.signal)) yield solveStatusFromResponse(resp);
    } catch (err) {
      throw daemonError(err, 'Control.Status', 'failed to get status');
    }
  }

  /**
   * Build history events (`ListenBuildHistory`): with `earlyExit` the stream ends after the
   * existing records; `activeOnly` limits it to running builds; `ref` to one build.
   */
  async *history(
    options: { ref?: string; activeOnly?: boolean; earlyExit?: boolean; signal?: AbortSignal } = {},
  ): AsyncIterable<BuildHistoryEvent> {
    try {
      yield* this.control.listenBuildHistory(
        {
          Ref: options.ref ?? '',
          ActiveOnly: options.activeOnly ?? false,
          EarlyExit: options.earlyExit ?? false,
        },
        options.signal,
      );
    } catch (err) {
      throw daemonError(err, 'Control.ListenBuildHistory', 'failed to list build history');
    }
  }

  /** Pins, unpins or deletes a build history record. */
  async updateHistory(ref: string, change: { pinned?: boolean; delete?: boolean }): Promise<void> {
    await this.control
      .updateBuildHistory({ Ref: ref, Pinned: change.pinned ?? false, Delete: change.delete ?? false })
      .catch((err: unknown) => {
        throw daemonError(err, 'Control.UpdateBuildHistory');
      });
  }

  /**
   * Polls Info until the daemon answers (Unimplemented counts as up), for at most `timeoutMs`.
   * Throws the last DaemonError when it never became available.
   */
  async wait(options: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      options.signal?.throwIfAborted();
      try {
        await this.control.info({ deadline: new Date(Math.max(deadline, Date.now() + 100)) });
        return;
      } catch (err) {
        const e = daemonError(err, 'Control.Info', 'failed to call info');
        if (e instanceof DaemonError && e.grpcCode === 12) return;
        if (!(e instanceof DaemonError) || (e.grpcCode !== 14 && e.grpcCode !== 4) || Date.now() >= deadline)
          throw e;
      }
      await sleep(100, undefined, options.signal ? { signal: options.signal } : {});
    }
  }

  /**
   * kiln's build insight (`kiln.v1.Insight/Explain`, kilnd only): for a finished build (`ref`, or
   * the most recent one), why each step missed the cache and the critical path, as the daemon's
   * JSON text (see `kilnctl explain`). Fails with DaemonError: `not-found` when there is no such
   * finished build, `unimplemented` from a daemon without the service (buildkitd).
   */
  async explain(options: { ref?: string; signal?: AbortSignal } = {}): Promise<string> {
    this.#insight ??= new ServiceClient(Insight, this.address, this.#connect);
    const resp = await this.#insight
      .unary('explain', { ref: options.ref ?? '' }, options.signal ? { signal: options.signal } : {})
      .catch((err: unknown) => {
        throw daemonError(err, 'Insight.Explain', 'failed to explain build');
      });
    return resp.json;
  }

  close(): void {
    this.control.close();
    this.#insight?.close();
  }
}
