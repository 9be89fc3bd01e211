import { create } from '@bufbuild/protobuf';
import { WorkerRecordSchema } from '../../proto/gen/moby/buildkit/v1/types/worker_pb.js';
import { SolveRequestError } from '../errors.js';
import type { Frontend } from '../gateway-client.js';
import { FrontendCapsError, FrontendSourceMissingError } from './errors.js';
import { imageCaps, loadFrontendImage, type FrontendImage } from './frontend-image.js';
import { frontendNetwork } from './frontend-process.js';
import { runFrontendContainer, type FrontendRunDeps } from './frontend-run.js';

export interface GatewayFrontendOptions extends Omit<FrontendRunDeps, 'workerRecord' | 'product'> {
  /** Stop a frontend that makes no gateway call for this long and has not returned. Default 10 min. */
  readonly idleTimeoutMs?: number;
  /** How long a frontend may take to exit after it returned. Default 10 s. */
  readonly exitGraceMs?: number;
  /** `BUILDKIT_EXPORTEDPRODUCT`. Default `kiln`. */
  readonly product?: string;
}

/** Per-build override of the idle timeout: `--opt kiln.frontend-idle-timeout=30s` (ms, s or m; bare = s). */
export const idleTimeoutOption = 'kiln.frontend-idle-timeout';

function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!m) {
    throw new SolveRequestError(
      `invalid ${idleTimeoutOption} ${JSON.stringify(value)}: expected a duration such as 90s, 500ms or 5m`,
    );
  }
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000);
}

/** The caps the build requires (`frontend.caps`, and inputs when it has some) that the image lacks. */
function checkCaps(image: FrontendImage, opts: Readonly<Record<string, string>>, hasInputs: boolean): void {
  const declared = imageCaps(image.config);
  const required = new Set(
    (opts['frontend.caps'] ?? '')
      .split(',')
      .map((c) => c.split('+', 1)[0]!.trim())
      .filter((c) => c !== ''),
  );
  if (hasInputs) required.add('moby.buildkit.frontend.inputs');
  for (const cap of required) {
    if (!declared.has(cap)) throw new FrontendCapsError({ image: image.name, cap });
  }
}

/**
 * The `gateway.v0` frontend: runs the frontend image named by the `source` option in a container
 * and serves it LLBBridge over its stdio, as BuildKit does, so any BuildKit-compatible frontend
 * image (and kiln's own Dockerfile frontend image) builds through kiln. The image is resolved and
 * pulled through the job (cached like any image), checked against the caps the build requires,
 * and run read-only without network unless its labels ask for one (see frontendNetwork).
 *
 * It needs the job's gateway (the third Frontend argument) to mount results; the daemon registers
 * it once and it serves every build. A frontend that crashes, hangs or returns garbage fails its
 * build only. Errors: FrontendSourceMissingError, FrontendCapsError, FrontendImageError,
 * FrontendExitedError, FrontendUnresponsiveError, FrontendProtocolError, the error the frontend
 * returned (its kind and typed details kept), and the job's cancellation.
 */
export function createGatewayFrontend(options: GatewayFrontendOptions): Frontend {
  const deps: FrontendRunDeps = {
    ...options,
    product: options.product ?? 'kiln',
    workerRecord: create(WorkerRecordSchema, {
      ID: options.worker.id,
      Labels: { ...options.worker.labels },
      platforms: options.worker.platforms.map((p) => ({
        OS: p.os,
        Architecture: p.architecture,
        Variant: p.variant ?? '',
      })),
    }),
  };
  return async (client, signal, gateway) => {
    if (!gateway) {
      throw new SolveRequestError('gateway.v0 can only run inside the daemon (it needs the job)', 'internal');
    }
    const opts = client.frontendOpt;
    const source = opts.source;
    if (!source) throw new FrontendSourceMissingError();
    const idle = opts[idleTimeoutOption];
    const idleTimeoutMs = idle ? parseDuration(idle) : (options.idleTimeoutMs ?? 10 * 60_000);
    const image = await loadFrontendImage(client, { source, platform: options.worker.platforms[0], signal });
    checkCaps(image, opts, client.inputs().size > 0);
    return runFrontendContainer(deps, {
      client,
      gateway,
      image,
      network: frontendNetwork(image.config),
      idleTimeoutMs,
      exitGraceMs: options.exitGraceMs ?? 10_000,
      signal,
    });
  };
}
