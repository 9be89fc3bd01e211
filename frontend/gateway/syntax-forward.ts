import type { GatewayClient, GatewayResult } from '../../solver/index.js';
import { SyntaxFrontendUnavailableError } from './errors.js';

/** `--opt kiln.syntax-fallback=true`: build with the built-in frontend when the syntax image is unreachable. */
export const syntaxFallbackOption = 'kiln.syntax-fallback';

export interface SyntaxForwardOptions {
  /** The directive's whole value (`docker/dockerfile:1.4 --flag`), passed on as `cmdline`. */
  readonly cmdline: string;
  readonly signal?: AbortSignal;
}

/** What gateway.v0 throws when the frontend image cannot be resolved (recognised by its code). */
const unavailableCode = 'KILN_GATEWAY_FRONTEND_UNAVAILABLE';

function isUnavailable(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === unavailableCode;
}

/**
 * Hands a build to the frontend image a syntax directive names (`# syntax=<image>` or
 * `build-arg:BUILDKIT_SYNTAX`), as BuildKit's Dockerfile frontend does: a `gateway.v0` solve with
 * the build's options plus `cmdline` and `source`, and the build's inputs. When the image cannot be
 * resolved and the build passed `--opt kiln.syntax-fallback=true`, a warning says so and this
 * resolves undefined, for the caller to build with its own frontend.
 *
 * Errors: SyntaxFrontendUnavailableError (unresolvable image, no fallback allowed), and whatever
 * the forwarded frontend fails with (its message and typed details unchanged).
 */
export async function forwardToSyntaxFrontend(
  client: GatewayClient,
  image: string,
  options: SyntaxForwardOptions,
): Promise<GatewayResult | undefined> {
  try {
    return await client.solve(
      {
        frontend: 'gateway.v0',
        frontendOpt: { ...client.frontendOpt, cmdline: options.cmdline, source: image },
        frontendInputs: client.inputs(),
      },
      options.signal,
    );
  } catch (err) {
    if (!isUnavailable(err)) throw err;
    if (client.frontendOpt[syntaxFallbackOption] !== 'true') {
      throw new SyntaxFrontendUnavailableError({ image, fallbackOption: syntaxFallbackOption, cause: err });
    }
    client.warn(
      `syntax ${options.cmdline}: the frontend image ${image} cannot be resolved; building with kiln's built-in Dockerfile frontend instead`,
      {
        detail: [err instanceof Error ? err.message : String(err), `allowed by ${syntaxFallbackOption}=true`],
      },
    );
    return undefined;
  }
}
