import type { ParsedFlags } from '../cli/flags.js';
import { loadTlsFiles, type ClientTls } from '../connect.js';
import { ClientUsageError } from '../errors.js';
import { attrMap } from '../options/csv.js';
import { builderFromAddresses, loadBuilderFile, type TlsFileOptions } from './builder.js';
import { routeRequest, type RouteRequest } from './route-request.js';
import { describeDecision, routeBuild } from './router.js';

/** The daemon a command talks to. */
export interface NodeTarget {
  readonly address: string;
  readonly tls?: ClientTls;
}

/**
 * kilnctl's connection step: one `--addr` (or none: `defaultAddress`) connects as before,
 * without probing; several `--addr` flags or a `--builder` file make a builder, and the router
 * picks the node (see routeBuild). `request` describes the build (absent for other commands).
 * `debug` receives the routing decision. Throws ClientUsageError when both `--builder` and
 * `--addr` are given, BuilderFileError, ClientConnectError or NoNodeAvailableError.
 */
export async function selectNode(options: {
  addresses: readonly string[];
  defaultAddress: string;
  builderFile: string;
  tls: TlsFileOptions;
  request?: RouteRequest;
  timeoutMs: number;
  signal?: AbortSignal;
  debug?: (line: string) => void;
}): Promise<NodeTarget> {
  const { addresses, builderFile } = options;
  if (builderFile && addresses.length > 0) {
    throw new ClientUsageError({ option: '--builder', message: 'use --builder or --addr, not both' });
  }
  if (!builderFile && addresses.length <= 1) {
    const address = addresses[0] ?? options.defaultAddress;
    const tls = await loadTlsFiles({ address, ...options.tls });
    return { address, ...(tls ? { tls } : {}) };
  }
  const builder = builderFile
    ? await loadBuilderFile(builderFile, options.tls)
    : await builderFromAddresses(addresses, options.tls);
  const decision = await routeBuild(builder, options.request, {
    timeoutMs: options.timeoutMs,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  options.debug?.(describeDecision(decision, options.request));
  const { address, tls } = decision.node;
  return { address, ...(tls ? { tls } : {}) };
}

/**
 * The routing view of `kilnctl build`'s flags (`--opt`, `--local`). Malformed flags give an
 * empty description here; the build command reports them with its own messages.
 */
export function routeRequestFromFlags(flags: ParsedFlags, cwd: string): RouteRequest {
  const parse = (name: string): Record<string, string> => {
    try {
      return attrMap(flags.strings(name), `--${name}`);
    } catch {
      return {};
    }
  };
  return routeRequest({ frontendOpts: parse('opt'), locals: parse('local'), cwd });
}
