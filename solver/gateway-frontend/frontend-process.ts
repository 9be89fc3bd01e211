import type { Platform } from '../../oci/index.js';
import type { ProcessSpec } from '../../executor/index.js';
import type { FrontendImageConfig } from './frontend-image.js';

/** The worker as a frontend learns it (BUILDKIT_WORKERS). */
export interface FrontendWorker {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Default build platform first. */
  readonly platforms: readonly Platform[];
}

export interface FrontendProcessInput {
  readonly config: FrontendImageConfig;
  /** The build's frontend options, passed on whole (including `source` and `cmdline`). */
  readonly opts: Readonly<Record<string, string>>;
  readonly sessionId: string;
  readonly worker: FrontendWorker;
  readonly product: string;
}

/**
 * The process a frontend image runs as, as BuildKit's gateway.v0 starts it: the image's
 * entrypoint (`/run` when it has none) in its working directory, as root, with the image's
 * environment plus `BUILDKIT_FRONTEND_OPT_<n>=<key>=<value>` for every option (in key order),
 * `BUILDKIT_SESSION_ID`, `BUILDKIT_WORKERS` (Go's JSON of the worker infos) and
 * `BUILDKIT_EXPORTEDPRODUCT`. The image's Cmd and User are ignored, as BuildKit ignores them.
 */
export function frontendProcess(input: FrontendProcessInput): ProcessSpec {
  const env = [...input.config.env];
  Object.keys(input.opts)
    .sort()
    .forEach((key, i) => env.push(`BUILDKIT_FRONTEND_OPT_${i}=${key}=${input.opts[key]}`));
  env.push(`BUILDKIT_SESSION_ID=${input.sessionId}`);
  const worker = {
    ID: input.worker.id,
    Labels: input.worker.labels,
    Platforms: input.worker.platforms.map((p) => ({
      architecture: p.architecture,
      os: p.os,
      ...(p.variant ? { variant: p.variant } : {}),
    })),
  };
  env.push(`BUILDKIT_WORKERS=${JSON.stringify([worker])}`);
  env.push(`BUILDKIT_EXPORTEDPRODUCT=${input.product}`);
  return {
    args: input.config.entrypoint ?? ['/run'],
    env,
    cwd: input.config.workingDir || '/',
    // Exit codes are the frontend's business: the run is judged by what it returned.
    validExitCodes: Array.from({ length: 256 }, (_, i) => i),
  };
}

/**
 * The frontend's network: none, unless its image says it needs one with the label
 * `moby.buildkit.frontend.network.none=false` (frontends reach everything through the gateway;
 * BuildKit's own Dockerfile frontend image sets the label to true).
 */
export function frontendNetwork(config: FrontendImageConfig): 'none' | 'sandbox' {
  return config.labels['moby.buildkit.frontend.network.none'] === 'false' ? 'sandbox' : 'none';
}
