import { image, marshal } from '../../llb/index.js';
import { formatReference, parseReference, type Platform } from '../../oci/index.js';
import type { Definition } from '../../proto/gen/pb/ops_pb.js';
import type { GatewayClient, GatewayRef } from '../gateway-client.js';
import { FrontendImageError, FrontendImageUnavailableError } from './errors.js';

/** The parts of an image config that decide how a frontend runs. */
export interface FrontendImageConfig {
  readonly env: readonly string[];
  readonly entrypoint: readonly string[] | undefined;
  readonly workingDir: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A frontend image made ready to run: its filesystem as a result of the job, and its config. */
export interface FrontendImage {
  /** How errors and logs name it (the pinned reference, or the devel frontend's name). */
  readonly name: string;
  readonly root: GatewayRef;
  /** The LLB that produced `root` (mounted for the frontend at /run/config/buildkit/metadata). */
  readonly definition: Definition | undefined;
  readonly config: FrontendImageConfig;
  /** The manifest digest (registry images only). */
  readonly digest: string | undefined;
}

interface RawConfig {
  config?: {
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string> | null;
  };
}

function parseConfig(name: string, bytes: Uint8Array | undefined): FrontendImageConfig {
  let raw: RawConfig = {};
  if (bytes && bytes.length > 0) {
    try {
      raw = JSON.parse(Buffer.from(bytes).toString('utf8')) as RawConfig;
    } catch (err) {
      throw new FrontendImageError({ image: name, reason: 'its image config is not JSON', cause: err });
    }
  }
  const c = raw.config ?? {};
  return {
    env: c.Env ?? [],
    entrypoint: c.Entrypoint && c.Entrypoint.length > 0 ? c.Entrypoint : undefined,
    workingDir: c.WorkingDir ?? '',
    labels: c.Labels ?? {},
  };
}

/** `gateway-<key>` options, with the prefix removed (what a devel frontend is built with). */
function develOptions(opts: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts)) if (k.startsWith('gateway-')) out[k.slice(8)] = v;
  return out;
}

/**
 * Resolves and pulls the frontend image through the job's gateway, as BuildKit's gateway.v0
 * does: the config from the registry (`image-resolve-mode` honoured), then an image source pinned
 * to the resolved digest, solved like any LLB (so it is cached and shown in progress). With
 * `gateway-devel`, `source` names a frontend instead (e.g. dockerfile.v0) whose result is the
 * frontend's filesystem and whose `containerimage.config` its config.
 *
 * Errors: FrontendImageUnavailableError (resolving failed), whatever pulling fails with;
 * FrontendImageError for an empty result or an unreadable config.
 */
export async function loadFrontendImage(
  client: GatewayClient,
  opts: { source: string; platform: Platform | undefined; signal: AbortSignal },
): Promise<FrontendImage> {
  const options = client.frontendOpt;
  if (options['gateway-devel'] !== undefined) {
    const result = await client.solve(
      { frontend: opts.source, frontendOpt: develOptions(options), frontendInputs: client.inputs() },
      opts.signal,
    );
    if (!result.ref) {
      throw new FrontendImageError({
        image: opts.source,
        reason: 'the development frontend returned no result',
      });
    }
    return {
      name: opts.source,
      root: result.ref,
      definition: undefined,
      config: parseConfig(opts.source, result.metadata.get('containerimage.config')),
      digest: undefined,
    };
  }
  const mode = options['image-resolve-mode'];
  const resolveMode = mode === 'pull' || mode === 'local' ? mode : undefined;
  let name = opts.source;
  try {
    name = formatReference(parseReference(opts.source));
  } catch {
    // resolving reports the malformed reference
  }
  let resolved;
  try {
    resolved = await client.resolveImageConfig(name, {
      ...(opts.platform ? { platform: opts.platform } : {}),
      ...(resolveMode ? { resolveMode } : {}),
      // As BuildKit names the step when gateway.v0 resolves its frontend.
      logName: `resolve image config for ${name}`,
    });
  } catch (err) {
    if (opts.signal.aborted) throw err;
    throw new FrontendImageUnavailableError({ image: name, cause: err });
  }
  const definition = marshal(
    image(resolved.ref, {
      recordType: 'frontend',
      ...(resolveMode ? { resolveMode } : {}),
      ...(opts.platform ? { platform: opts.platform } : {}),
    }),
    opts.platform ? { platform: opts.platform } : {},
  );
  const result = await client.solve({ definition }, opts.signal);
  if (!result.ref)
    throw new FrontendImageError({ image: resolved.ref, reason: 'pulling it gave no filesystem' });
  return {
    name: resolved.ref,
    root: result.ref,
    definition,
    config: parseConfig(resolved.ref, resolved.config),
    digest: resolved.digest || undefined,
  };
}

/** The caps a frontend image declares (label `moby.buildkit.frontend.caps`, `name+suffix` entries). */
export function imageCaps(config: FrontendImageConfig): Set<string> {
  const label = config.labels['moby.buildkit.frontend.caps'] ?? '';
  return new Set(
    label
      .split(',')
      .map((c) => c.split('+', 1)[0]!.trim())
      .filter((c) => c !== ''),
  );
}
