import type { GatewayClient } from '../../../solver/index.js';
import {
  type State,
  git,
  http,
  image,
  local,
  marshal,
  parseDockerignore,
  scratch,
} from '../../../llb/index.js';
import {
  type ImageConfig,
  type Platform,
  familiarName,
  formatReference,
  normalizePlatform,
  parseReference,
} from '../../../oci/index.js';
import { formatPlatformArg } from '../build-args.js';
import { gitCheckout, parseGitRef } from '../convert/git-ref.js';
import type { ContextSource } from '../convert/types.js';
import { BuildOptionError, FrontendUnsupportedError } from '../errors.js';

/** Looks up `context:<name>` (or `context:<name>::<platform>`) for a stage name or an image. */
export type NamedContextLookup = (name: string, platform: Platform) => Promise<ContextSource | undefined>;

/** An image config as a frontend keeps it: parsed, `created` dropped. */
export function parseImageConfig(bytes: Uint8Array, what: string): ImageConfig {
  try {
    const { created: _created, ...config } = JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageConfig;
    return config;
  } catch (err) {
    throw new BuildOptionError({
      option: what,
      value: '',
      message: `failed to parse image config of ${what}: ${(err as Error).message}`,
      cause: err,
    });
  }
}

/**
 * Named build contexts as BuildKit's Dockerfile frontend resolves them: the name is normalised
 * like an image name (`busybox`, `docker.io/library/busybox:latest` and `busybox:latest` are one
 * name), the platform-specific key wins, and the value says what the context is —
 * `docker-image://ref` (its config resolved, env and workdir applied), `git…`/`http(s)://…`,
 * `local:<local name>` (its own .dockerignore honoured) — or fails: `oci-layout://` and `input:`
 * contexts are not supported by kiln yet.
 */
export function namedContextLookup(opts: {
  client: GatewayClient;
  contexts: ReadonlyMap<string, string>;
  resolveMode: 'default' | 'pull' | 'local';
  caps: Iterable<string>;
  signal: AbortSignal;
}): NamedContextLookup {
  const { client, contexts } = opts;
  return async (name, platform) => {
    if (contexts.size === 0) return undefined;
    const lower = name.toLowerCase();
    if (lower === 'scratch' || lower === 'context') return undefined;
    let short: string;
    try {
      short = familiarName(parseReference(name)).replace(/:latest$/, '');
    } catch (err) {
      throw new BuildOptionError({
        option: `context:${name}`,
        value: name,
        message: `invalid context name ${name}`,
        cause: err,
      });
    }
    const withPlatform = `${short}::${formatPlatformArg(normalizePlatform(platform))}`;
    for (const key of [withPlatform, short]) {
      const value = contexts.get(key);
      if (value !== undefined) return load(key, value, platform);
    }
    return undefined;
  };

  async function load(pname: string, value: string, platform: Platform): Promise<ContextSource> {
    const colon = value.indexOf(':');
    if (colon < 0) {
      throw new BuildOptionError({
        option: `context:${pname}`,
        value,
        message: `invalid context specifier ${value} for ${pname}`,
      });
    }
    let kind = value.slice(0, colon);
    const rest = value.slice(colon + 1);
    if (kind.startsWith('git@')) kind = 'git';
    switch (kind) {
      case 'docker-image':
        return dockerImage(pname, rest.replace(/^\/\//, ''), platform);
      case 'git':
      case 'http':
      case 'https': {
        const ref = parseGitRef(value);
        if (ref) {
          const st = git(ref.remote, gitCheckout(ref), {
            customName: `[internal] load git source ${value}`,
            keepGitDir: true,
          });
          return { state: st };
        }
        if (kind === 'git') {
          throw new BuildOptionError({
            option: `context:${pname}`,
            value,
            message: `invalid git context ${value}`,
          });
        }
        return { state: http(value, { customName: `[context ${pname}] ${value}` }) };
      }
      case 'local':
        return localContext(pname, rest);
      case 'oci-layout':
      case 'input':
        throw new FrontendUnsupportedError({
          what: `context:${pname}`,
          message: `named context ${pname}: ${kind} contexts are not supported by kiln yet`,
        });
      default:
        throw new BuildOptionError({
          option: `context:${pname}`,
          value,
          message: `unsupported context source ${kind} for ${pname}`,
        });
    }
  }

  async function dockerImage(pname: string, ref: string, platform: Platform): Promise<ContextSource> {
    if (ref === 'scratch') return { state: scratch() };
    const normalised = formatReference(parseReference(ref));
    const resolved = await client.resolveImageConfig(normalised, {
      platform,
      resolveMode: opts.resolveMode,
      logName: `[context ${pname}] load metadata for ${ref}`,
    });
    const config = parseImageConfig(resolved.config, ref);
    const state = image(ref, { customName: `[context ${pname}] ${ref}`, platform }).withImageConfig(config);
    return { state, image: config };
  }

  async function localContext(pname: string, localName: string): Promise<ContextSource> {
    const ignore = local(localName, {
      sessionId: client.sessionId,
      followPaths: ['.dockerignore'],
      sharedKeyHint: `context:${pname}-.dockerignore`,
      customName: `[context ${pname}] load .dockerignore`,
      differ: 'none',
    });
    const result = await client.solve({ definition: marshal(ignore, { caps: opts.caps }) }, opts.signal);
    let excludes: string[] = [];
    if (result.ref) {
      try {
        excludes = parseDockerignore(
          Buffer.from(await client.readFile(result.ref, '.dockerignore')).toString('utf8'),
        );
      } catch {
        // BuildKit ignores a missing or unreadable .dockerignore here.
      }
    }
    const state: State = local(localName, {
      customName: `[context ${pname}] load from client`,
      sessionId: client.sessionId,
      sharedKeyHint: `context:${pname}`,
      ...(excludes.length > 0 ? { excludePatterns: excludes } : {}),
    });
    return { state };
  }
}
