import type { Platform } from '../../oci/index.js';
import type { Result } from '../../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import type { Stat } from '../../proto/gen/fsutil/types/stat_pb.js';
import type { Definition } from '../../proto/gen/pb/ops_pb.js';
import type {
  FileStat,
  GatewayClient,
  GatewayRef,
  GatewayResult,
  GatewaySolveRequest,
  ResolveImageOptions,
  ResolvedImageConfig,
} from '../../solver/index.js';
import type { LlbBridgeClient } from './bridge-client.js';
import { GatewayContainer, type ContainerOptions } from './container.js';
import type { FrontendEnvironment } from './frontend-env.js';

/**
 * What a frontend running as a gateway image sees: the GatewayClient contract every kiln frontend
 * is written against, plus what only a daemon connection offers (caps, Evaluate, containers).
 */
export interface FrontendClient extends GatewayClient {
  /** Gateway caps the daemon reported in Ping (`return`, `gateway.exec`, …). */
  readonly caps: ReadonlySet<string>;
  /** LLB caps the daemon reported; give them to `marshal({ caps })`. */
  readonly llbCaps: ReadonlySet<string>;
  /** Makes sure a result has been built (kiln builds on Solve already; BuildKit may defer). */
  evaluate(ref: GatewayRef, signal?: AbortSignal): Promise<void>;
  /**
   * Creates a container from result mounts (needs the `gateway.exec` cap); run processes in it
   * with `run`, then `release` it. Errors: GatewayCallError.
   */
  newContainer(options: ContainerOptions, signal?: AbortSignal): Promise<GatewayContainer>;
  /** Waits for the warnings sent so far (they are sent in the background). */
  flush(): Promise<void>;
}

function toStat(s: Stat | undefined): FileStat {
  return {
    path: s?.path ?? '',
    mode: s?.mode ?? 0,
    uid: s?.uid ?? 0,
    gid: s?.gid ?? 0,
    size: Number(s?.size ?? 0n),
    modTime: s?.modTime ?? 0n,
    linkname: s?.linkname ?? '',
  };
}

/** A Solve/Return result as the gateway contract has it. */
export function fromPbResult(result: Result | undefined): GatewayResult {
  const metadata = new Map(Object.entries(result?.metadata ?? {}));
  switch (result?.result.case) {
    case 'ref':
      return { ref: { id: result.result.value.id }, metadata };
    case 'refDeprecated':
      return { ref: { id: result.result.value }, metadata };
    case 'refs':
      return {
        refs: new Map(Object.entries(result.result.value.refs).map(([k, r]) => [k, { id: r.id }])),
        metadata,
      };
    case 'refsDeprecated':
      return {
        refs: new Map(Object.entries(result.result.value.refs).map(([k, id]) => [k, { id }])),
        metadata,
      };
    default:
      return { metadata };
  }
}

/** Sorted entries, so map fields encode the same way every time. */
function sortedRecord<V>(entries: Iterable<[string, V]>): Record<string, V> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The GatewayClient of a frontend running in a container, over the daemon's LLBBridge. Construct
 * it through `runFrontend` (which pings the daemon and fetches the inputs first).
 */
export class GrpcFrontendClient implements FrontendClient {
  readonly frontendOpt: Readonly<Record<string, string>>;
  readonly sessionId: string;
  readonly workerPlatforms: readonly Platform[];
  readonly caps: ReadonlySet<string>;
  readonly llbCaps: ReadonlySet<string>;
  readonly #bridge: LlbBridgeClient;
  readonly #inputs: ReadonlyMap<string, Definition>;
  readonly #warnings = new Set<Promise<void>>();
  #containers = 0;

  constructor(opts: {
    bridge: LlbBridgeClient;
    environment: FrontendEnvironment;
    caps: ReadonlySet<string>;
    llbCaps: ReadonlySet<string>;
    /** Worker platforms from Ping, used when the environment names none. */
    pingPlatforms: readonly Platform[];
    inputs: ReadonlyMap<string, Definition>;
  }) {
    this.#bridge = opts.bridge;
    this.frontendOpt = opts.environment.opts;
    this.sessionId = opts.environment.sessionId;
    const envPlatforms = opts.environment.workers[0]?.platforms ?? [];
    this.workerPlatforms = envPlatforms.length > 0 ? envPlatforms : opts.pingPlatforms;
    this.caps = opts.caps;
    this.llbCaps = opts.llbCaps;
    this.#inputs = opts.inputs;
  }

  async solve(request: GatewaySolveRequest, signal?: AbortSignal): Promise<GatewayResult> {
    const response = await this.#bridge.call(
      'solve',
      {
        ...(request.definition ? { Definition: request.definition } : {}),
        Frontend: request.frontend ?? '',
        FrontendOpt: sortedRecord(Object.entries(request.frontendOpt ?? {})),
        FrontendInputs: sortedRecord(request.frontendInputs ?? []),
        allowResultReturn: true,
        allowResultArrayRef: true,
      },
      signal,
    );
    if (!response.result && response.ref) return { ref: { id: response.ref }, metadata: new Map() };
    return fromPbResult(response.result);
  }

  async readFile(
    ref: GatewayRef,
    path: string,
    range?: { offset: number; length: number },
  ): Promise<Uint8Array> {
    const response = await this.#bridge.call('readFile', {
      Ref: ref.id,
      FilePath: path,
      ...(range ? { Range: { Offset: BigInt(range.offset), Length: BigInt(range.length) } } : {}),
    });
    return response.Data;
  }

  async readDir(ref: GatewayRef, path: string, includePattern?: string): Promise<FileStat[]> {
    const response = await this.#bridge.call('readDir', {
      Ref: ref.id,
      DirPath: path,
      IncludePattern: includePattern ?? '',
    });
    return response.entries.map(toStat);
  }

  async statFile(ref: GatewayRef, path: string): Promise<FileStat> {
    const response = await this.#bridge.call('statFile', { Ref: ref.id, Path: path });
    return toStat(response.stat);
  }

  async resolveImageConfig(ref: string, options: ResolveImageOptions = {}): Promise<ResolvedImageConfig> {
    const p = options.platform;
    const response = await this.#bridge.call('resolveImageConfig', {
      Ref: ref,
      ...(p ? { Platform: { OS: p.os, Architecture: p.architecture, Variant: p.variant ?? '' } } : {}),
      ResolveMode: options.resolveMode ?? '',
      LogName: options.logName ?? '',
      SessionID: this.sessionId,
    });
    return { digest: response.Digest, config: response.Config, ref: response.Ref || ref };
  }

  inputs(): ReadonlyMap<string, Definition> {
    return this.#inputs;
  }

  warn(message: string, options: { detail?: readonly string[]; url?: string } = {}): void {
    const sent = this.#bridge
      .call('warn', {
        level: 1n,
        short: Buffer.from(message),
        detail: (options.detail ?? []).map((d) => Buffer.from(d)),
        url: options.url ?? '',
      })
      .then(
        () => undefined,
        // A warning that cannot be delivered must not fail the build; say so where it can be seen.
        (err: unknown) => void process.stderr.write(`warning not delivered: ${message} (${String(err)})\n`),
      );
    this.#warnings.add(sent);
    void sent.finally(() => this.#warnings.delete(sent));
  }

  async evaluate(ref: GatewayRef, signal?: AbortSignal): Promise<void> {
    await this.#bridge.call('evaluate', { Ref: ref.id }, signal);
  }

  async newContainer(options: ContainerOptions, signal?: AbortSignal): Promise<GatewayContainer> {
    const id = options.id ?? `kiln-frontend-${process.pid}-${++this.#containers}`;
    return GatewayContainer.create(this.#bridge, id, options, signal);
  }

  async flush(): Promise<void> {
    await Promise.all([...this.#warnings]);
  }
}
