import type { Platform } from '../oci/index.js';
import type { Definition } from '../proto/gen/pb/ops_pb.js';
import type { JobGateway } from './gateway.js';

/**
 * The contract a frontend gets, whether it is built in (dockerfile.v0) or runs in a container
 * (gateway.v0): solve LLB, read files of results, resolve image configs. Frontends never reach
 * into the solver beyond this.
 */

/** A result the gateway handed out; opaque outside the job that created it. */
export interface GatewayRef {
  readonly id: string;
}

export interface GatewayResult {
  /** Single-platform result. */
  readonly ref?: GatewayRef;
  /** Multi-platform result, by platform id (`linux/amd64`). */
  readonly refs?: ReadonlyMap<string, GatewayRef>;
  /** Frontend metadata (`containerimage.config`, `refs.platforms`, …). */
  readonly metadata: ReadonlyMap<string, Uint8Array>;
}

export interface GatewaySolveRequest {
  readonly definition?: Definition;
  readonly frontend?: string;
  readonly frontendOpt?: Readonly<Record<string, string>>;
  readonly frontendInputs?: ReadonlyMap<string, Definition>;
}

/** One entry as ReadDir/StatFile report it (fsutil Stat; mode in Go FileMode bits). */
export interface FileStat {
  readonly path: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly modTime: bigint;
  readonly linkname: string;
}

export interface ResolvedImageConfig {
  /** Digest of the manifest the reference resolved to. */
  readonly digest: string;
  /** The image config blob, exactly as stored. */
  readonly config: Uint8Array;
  /** The reference, normalised and pinned. */
  readonly ref: string;
}

export interface ResolveImageOptions {
  readonly platform?: Platform;
  readonly resolveMode?: 'default' | 'pull' | 'local';
  /** Progress name for the resolve step, e.g. `[internal] load metadata for docker.io/library/alpine:latest`. */
  readonly logName?: string;
}

export interface GatewayClient {
  /** The build's frontend options (`--opt k=v` as received). */
  readonly frontendOpt: Readonly<Record<string, string>>;
  /** The session of the client that started the build. */
  readonly sessionId: string;
  /** The worker's platforms, default build platform first. */
  readonly workerPlatforms: readonly Platform[];
  solve(request: GatewaySolveRequest, signal?: AbortSignal): Promise<GatewayResult>;
  readFile(ref: GatewayRef, path: string, range?: { offset: number; length: number }): Promise<Uint8Array>;
  readDir(ref: GatewayRef, path: string, includePattern?: string): Promise<FileStat[]>;
  statFile(ref: GatewayRef, path: string): Promise<FileStat>;
  resolveImageConfig(ref: string, options?: ResolveImageOptions): Promise<ResolvedImageConfig>;
  /** Named inputs given to the build (`FrontendInputs`). */
  inputs(): ReadonlyMap<string, Definition>;
  warn(message: string, options?: { detail?: readonly string[]; url?: string }): void;
}

/**
 * A frontend: builds a result through the gateway. `gateway` is the job's own gateway, for the
 * frontends the daemon runs that need more than the client (gateway.v0 mounts result snapshots
 * into containers); a frontend that may also run in a container uses only the client.
 */
export type Frontend = (
  client: GatewayClient,
  signal: AbortSignal,
  gateway?: JobGateway,
) => Promise<GatewayResult>;
