import type { Platform } from '../../oci/index.js';
import { FrontendEnvironmentError } from './errors.js';

/** What the daemon tells a gateway frontend through its environment, as BuildKit sets it. */
export interface FrontendEnvironment {
  /** The build's frontend options (`BUILDKIT_FRONTEND_OPT_<n>=<key>=<value>`). */
  readonly opts: Readonly<Record<string, string>>;
  /** `BUILDKIT_SESSION_ID`: the client session local sources and secrets come from. */
  readonly sessionId: string;
  /** `BUILDKIT_WORKERS`: the daemon's workers with their platforms, default platform first. */
  readonly workers: ReadonlyArray<{ readonly id: string; readonly platforms: readonly Platform[] }>;
  /** `BUILDKIT_EXPORTEDPRODUCT`: the daemon's product name (`kiln`, `buildkit`). */
  readonly product: string;
}

export const frontendOptPrefix = 'BUILDKIT_FRONTEND_OPT_';

interface GoWorkerInfo {
  ID?: string;
  Platforms?: Array<{ architecture?: string; os?: string; variant?: string }> | null;
}

/**
 * Reads the frontend environment. Options are split on their first `=` as BuildKit's client
 * does; a malformed `BUILDKIT_WORKERS` throws FrontendEnvironmentError (an absent one is empty).
 */
export function readFrontendEnvironment(
  env: Readonly<Record<string, string | undefined>>,
): FrontendEnvironment {
  const opts: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(frontendOptPrefix) || value === undefined) continue;
    const eq = value.indexOf('=');
    if (eq < 0) opts[value] = '';
    else opts[value.slice(0, eq)] = value.slice(eq + 1);
  }
  let workers: FrontendEnvironment['workers'] = [];
  const raw = env.BUILDKIT_WORKERS;
  if (raw) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      throw new FrontendEnvironmentError({
        what: 'BUILDKIT_WORKERS',
        message: `BUILDKIT_WORKERS is not JSON: ${(err as Error).message}`,
        cause: err,
      });
    }
    if (!Array.isArray(parsed)) {
      throw new FrontendEnvironmentError({
        what: 'BUILDKIT_WORKERS',
        message: 'BUILDKIT_WORKERS must be a JSON array of workers',
      });
    }
    workers = (parsed as GoWorkerInfo[]).map((w) => ({
      id: w.ID ?? '',
      platforms: (w.Platforms ?? []).map((p) => ({
        os: p.os ?? 'linux',
        architecture: p.architecture ?? '',
        ...(p.variant ? { variant: p.variant } : {}),
      })),
    }));
  }
  return {
    opts,
    sessionId: env.BUILDKIT_SESSION_ID ?? '',
    workers,
    product: env.BUILDKIT_EXPORTEDPRODUCT ?? '',
  };
}
