import { resolve } from 'node:path';
import { parsePlatform, type Platform } from '../../oci/index.js';

/** The frontend option that names a build's affinity explicitly (`--opt kiln.affinity=my-app`). */
export const affinityOption = 'kiln.affinity';

/** What the router needs to know about a build. */
export interface RouteRequest {
  /** The one target platform asked for (`--opt platform=linux/arm64`); absent for none or several. */
  readonly platform?: Platform;
  /** The build's identity for consistent hashing: the same project gives the same string. */
  readonly affinity: string;
  /** Where `affinity` came from: the explicit option, the build's context, or nothing usable. */
  readonly affinitySource: 'option' | 'context' | 'none';
}

/**
 * Describes a build for routing from its frontend options and local directories, as kilnctl's
 * flags give them (`--opt k=v`, `--local name=dir`; relative directories against `cwd`).
 * The affinity is `kiln.affinity` when set, otherwise the context's absolute path (or a remote
 * `context` option) plus the Dockerfile's path: the same checkout of the same project always
 * hashes alike. CI systems that check every repository out at one fixed path (`/workspace`)
 * should set `kiln.affinity`, since the path no longer tells projects apart.
 */
export function routeRequest(options: {
  frontendOpts: Readonly<Record<string, string>>;
  locals: Readonly<Record<string, string>>;
  cwd: string;
}): RouteRequest {
  const { frontendOpts: opts, locals, cwd } = options;
  let platform: Platform | undefined;
  const wanted = (opts['platform'] ?? '').split(',').filter((p) => p.trim() !== '');
  if (wanted.length === 1) {
    try {
      platform = parsePlatform(wanted[0]!);
    } catch {
      // The daemon reports a malformed platform with its own message; route as if none was given.
    }
  }
  const at = platform ? { platform } : {};
  const explicit = opts[affinityOption];
  if (explicit) return { ...at, affinity: explicit, affinitySource: 'option' };
  const filename = opts['filename'] ?? 'Dockerfile';
  const context = locals['context'];
  if (context !== undefined) {
    const dockerfileDir = resolve(cwd, locals['dockerfile'] ?? context);
    return {
      ...at,
      affinity: `${resolve(cwd, context)}\n${resolve(dockerfileDir, filename)}`,
      affinitySource: 'context',
    };
  }
  if (opts['context'])
    return { ...at, affinity: `${opts['context']}\n${filename}`, affinitySource: 'context' };
  return { ...at, affinity: '', affinitySource: 'none' };
}
