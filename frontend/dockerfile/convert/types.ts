import type { HostIP, NetworkMode, SourceMap, State, Ulimit } from '../../../llb/index.js';
import type { ImageConfig, Platform } from '../../../oci/index.js';
import type { PlanOptions } from '../plan.js';

/** A base or `--from` image whose config the caller fetched before conversion. */
export interface ResolvedImage {
  /** The manifest digest the source is pinned to; '' leaves the reference unpinned. */
  readonly digest: string;
  readonly config: ImageConfig;
}

/** What a named context (`context:<name>=…`) stands for once resolved. */
export interface ContextSource {
  readonly state: State;
  /** The image config it brings (docker-image and oci-layout contexts), if any. */
  readonly image?: ImageConfig;
}

/**
 * Everything one conversion (one target platform) needs besides the Dockerfile. The images and
 * named contexts are fetched beforehand (`resolveConversionInputs`), so converting is synchronous.
 */
export interface ConvertOptions extends Omit<PlanOptions, 'resolveImage' | 'replacedStages'> {
  /** Base and `--from` images by `imageKey(ref, platform)`. */
  readonly images: ReadonlyMap<string, ResolvedImage>;
  /** Named contexts by `stageContextKey(index)` (a stage replaced) or `imageContextKey(ref)`. */
  readonly contexts?: ReadonlyMap<string, ContextSource>;
  /** The Dockerfile as a source map: ops point into it so failures show their lines. */
  readonly sourceMap?: SourceMap;
  /** The client's session, for the build context's local source. */
  readonly sessionId: string;
  /** Name of the build context local (`contextkey`); default `context`. */
  readonly contextLocalName?: string;
  /** A remote or input build context replacing the local one. */
  readonly buildContext?: State;
  /** .dockerignore patterns of the build context. */
  readonly excludes?: readonly string[];
  /** `no-cache`: undefined = use the cache, [] = no stage does, else the stages named. */
  readonly ignoreCache?: readonly string[];
  /** BUILDKIT_CACHE_MOUNT_NS, prefixed to cache mount ids. */
  readonly cacheNamespace?: string;
  readonly extraHosts?: readonly HostIP[];
  /** /dev/shm size in bytes for RUN (0: the runtime default). */
  readonly shmSize?: number;
  readonly ulimits?: readonly Ulimit[];
  readonly cgroupParent?: string;
  /** `force-network-mode`: the network of every RUN without `--network`. */
  readonly forceNetwork?: NetworkMode;
  readonly hostname?: string;
  readonly resolveMode?: 'default' | 'pull' | 'local';
  /** Progress names carry the platform (multi-platform builds). */
  readonly prefixPlatform?: boolean;
  /** LLB caps of the daemon the definition is for. */
  readonly caps: ReadonlySet<string>;
}

/** The key of `ConvertOptions.images`. */
export function imageKey(ref: string, platform: Platform): string {
  return `${ref} ${[platform.os, platform.architecture, platform.variant ?? ''].join('/')}`;
}

export function stageContextKey(index: number): string {
  return `stage:${index}`;
}

export function imageContextKey(ref: string): string {
  return `image:${ref}`;
}
