import { isIP } from 'node:net';
import type { HostIP, NetworkMode, Ulimit, UlimitName } from '../../../llb/index.js';
import { type Platform, normalizePlatform } from '../../../oci/index.js';
import { BuildOptionError, FrontendUnsupportedError } from '../errors.js';
import { parsePlatformSpec } from '../plan-prepare.js';

/** The `dockerfile.v0` frontend options (`--opt k=v`), parsed and checked. */
export interface FrontendOptions {
  /** Local holding the build context (`contextkey`); default `context`. */
  readonly contextLocal: string;
  /** Local holding the Dockerfile (`dockerfilekey`); default `dockerfile`. */
  readonly dockerfileLocal: string;
  /** `dockerfilekey` was given: the Dockerfile comes from that local even with a remote context. */
  readonly forceLocalDockerfile: boolean;
  /** `filename`; default `Dockerfile`. */
  readonly filename: string;
  readonly target?: string;
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly labels: ReadonlyMap<string, string>;
  /** `platform`: the target platforms, normalised; undefined when not given (build for the worker's). */
  readonly platforms?: readonly Platform[];
  /** Return one ref per platform (`multi-platform`, or more than one platform). */
  readonly multiPlatform: boolean;
  readonly resolveMode: 'default' | 'pull' | 'local';
  readonly extraHosts: readonly HostIP[];
  readonly shmSize: number;
  readonly ulimits: readonly Ulimit[];
  readonly forceNetwork: NetworkMode;
  /** `no-cache`: undefined = use the cache, [] = every stage, else the stages named. */
  readonly ignoreCache?: readonly string[];
  readonly cacheNamespace: string;
  readonly hostname: string;
  readonly cgroupParent: string;
  /** `requestid`: a subrequest instead of a build. */
  readonly requestId?: string;
  /** `context`: a remote build context (git or http URL). */
  readonly remoteContext?: string;
  readonly contextSubDir?: string;
  /** BUILDKIT_CONTEXT_KEEP_GIT_DIR for a git context. */
  readonly keepGitDir: boolean;
  /** Named contexts (`context:<name>=<value>`), by name (`name` or `name::os/arch`). */
  readonly namedContexts: ReadonlyMap<string, string>;
  /** BUILDKIT_SYNTAX: an external frontend asked for through a build arg. */
  readonly syntax?: string;
}

const frontendCaps = new Set([
  'moby.buildkit.frontend.inputs',
  'moby.buildkit.frontend.subrequests',
  'moby.buildkit.frontend.contexts',
]);

function withPrefix(opts: Readonly<Record<string, string>>, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of Object.keys(opts).sort()) {
    if (key.startsWith(prefix)) out.set(key.slice(prefix.length), opts[key]!);
  }
  return out;
}

/** One record of Go's encoding/csv (quotes and doubled quotes; no line breaks). */
function csvRecord(text: string, option: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0)
          throw new BuildOptionError({ option, value: text, message: `invalid CSV in ${option}: ${text}` });
        field += text.slice(i, q);
        i = q + 1;
        if (text[i] !== '"') break;
        field += '"';
        i++;
      }
    } else {
      const comma = text.indexOf(',', i);
      field = text.slice(i, comma < 0 ? text.length : comma);
      i += field.length;
    }
    fields.push(field);
    if (i >= text.length) return fields;
    i++;
  }
}

const goTrue = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const goFalse = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

function goBool(value: string): boolean | undefined {
  return goTrue.has(value) ? true : goFalse.has(value) ? false : undefined;
}

function parseExtraHosts(value: string): HostIP[] {
  if (value === '') return [];
  const fail = (message: string): never => {
    throw new BuildOptionError({
      option: 'add-hosts',
      value,
      message: `failed to parse additional hosts: ${message}`,
    });
  };
  return csvRecord(value, 'add-hosts').map((field) => {
    const eq = field.indexOf('=');
    if (eq < 0) fail(`invalid key-value pair ${field}`);
    const host = field.slice(0, eq).toLowerCase();
    const ip = field.slice(eq + 1).toLowerCase();
    if (isIP(ip) === 0) fail(`failed to parse IP ${ip}`);
    return { host, ip };
  });
}

const ulimitNames = new Set<string>(
  'core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack'.split(
    ' ',
  ),
);

function parseUlimits(value: string): Ulimit[] {
  if (value === '') return [];
  const fail = (message: string): never => {
    throw new BuildOptionError({ option: 'ulimit', value, message: `failed to parse ulimit: ${message}` });
  };
  const int = (s: string): number => {
    if (!/^[+-]?\d+$/.test(s)) fail(`strconv.ParseInt: parsing "${s}": invalid syntax`);
    return Number(s);
  };
  return csvRecord(value, 'ulimit').map((field) => {
    const eq = field.indexOf('=');
    if (eq < 0) fail(`invalid ulimit argument: ${field}`);
    const name = field.slice(0, eq);
    if (!ulimitNames.has(name)) fail(`invalid ulimit type: ${name}`);
    const limits = field.slice(eq + 1).split(':');
    if (limits.length > 2) {
      fail(
        `too many limit value arguments - ${field.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``,
      );
    }
    const soft = int(limits[0]!);
    const hard = limits.length === 2 ? int(limits[1]!) : soft;
    if (hard !== -1 && soft === -1) {
      fail(`ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: ${hard}`);
    }
    if (hard !== -1 && soft > hard)
      fail(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
    return { name: name as UlimitName, soft, hard };
  });
}

/**
 * Checks `frontend.caps`: every capability the caller requires must be one this frontend has;
 * `cap+forward` means "or forward to an external frontend that has it", which kiln cannot do, so
 * it only defers the failure (returned, for the caller to throw after a `# syntax` check).
 */
export function checkFrontendCaps(value: string | undefined): FrontendUnsupportedError | undefined {
  if (!value) return undefined;
  for (const cap of value.split(',')) {
    const name = cap.split('+', 1)[0]!;
    if (frontendCaps.has(name)) continue;
    const error = new FrontendUnsupportedError({
      what: name,
      message: `unsupported frontend capability ${name}`,
    });
    if (cap.includes('+forward')) return error;
    throw error;
  }
  return undefined;
}

/**
 * Reads the frontend options as BuildKit v0.11.6's Dockerfile frontend does. `defaults` is the
 * worker's platform (used to complete a lone OS or architecture). Throws BuildOptionError with
 * BuildKit's message for a value it would refuse.
 */
export function parseFrontendOptions(
  opts: Readonly<Record<string, string>>,
  defaults: Platform,
): FrontendOptions {
  const fail = (option: string, message: string, cause?: unknown): never => {
    throw new BuildOptionError({ option, value: opts[option] ?? '', message, ...(cause ? { cause } : {}) });
  };
  let platforms: Platform[] | undefined;
  if (opts.platform) {
    platforms = opts.platform.split(',').map((spec) => {
      try {
        return normalizePlatform(parsePlatformSpec(spec, defaults));
      } catch (err) {
        return fail('platform', `failed to parse target platform ${spec}: ${(err as Error).message}`, err);
      }
    });
  }
  const resolveMode = opts['image-resolve-mode'] || 'default';
  if (resolveMode !== 'default' && resolveMode !== 'pull' && resolveMode !== 'local') {
    fail('image-resolve-mode', `invalid image-resolve-mode: ${resolveMode}`);
  }
  const net = opts['force-network-mode'] || 'sandbox';
  if (net !== 'sandbox' && net !== 'none' && net !== 'host')
    fail('force-network-mode', `invalid netmode ${net}`);
  const shm = opts['shm-size'] ?? '';
  if (shm !== '' && !/^[+-]?\d+$/.test(shm)) {
    fail('shm-size', `failed to parse shm size: strconv.ParseInt: parsing "${shm}": invalid syntax`);
  }
  let multiPlatform = (platforms?.length ?? 0) > 1;
  const multi = opts['build-arg:BUILDKIT_MULTI_PLATFORM'] || opts['multi-platform'];
  if (multi) {
    const b = goBool(multi);
    if (b === undefined) fail('multi-platform', `invalid boolean value ${multi}`);
    if (!b && multiPlatform) fail('multi-platform', 'returning multiple target platforms is not allowed');
    multiPlatform = b!;
  }
  const noCache = opts['no-cache'];
  return {
    contextLocal: opts.contextkey ?? 'context',
    dockerfileLocal: opts.dockerfilekey ?? 'dockerfile',
    forceLocalDockerfile: opts.dockerfilekey !== undefined,
    filename: opts.filename || 'Dockerfile',
    ...(opts.target ? { target: opts.target } : {}),
    buildArgs: withPrefix(opts, 'build-arg:'),
    labels: withPrefix(opts, 'label:'),
    ...(platforms ? { platforms } : {}),
    multiPlatform,
    resolveMode: resolveMode as FrontendOptions['resolveMode'],
    extraHosts: parseExtraHosts(opts['add-hosts'] ?? ''),
    shmSize: shm === '' ? 0 : Number(shm),
    ulimits: parseUlimits(opts.ulimit ?? ''),
    forceNetwork: net as NetworkMode,
    ...(noCache !== undefined ? { ignoreCache: noCache === '' ? [] : noCache.split(',') } : {}),
    cacheNamespace: opts['build-arg:BUILDKIT_CACHE_MOUNT_NS'] ?? '',
    hostname: opts['build-arg:BUILDKIT_SANDBOX_HOSTNAME'] || opts.hostname || '',
    cgroupParent: opts['cgroup-parent'] ?? '',
    ...(opts.requestid !== undefined ? { requestId: opts.requestid } : {}),
    ...(opts[opts.contextkey ?? 'context'] ? { remoteContext: opts[opts.contextkey ?? 'context'] } : {}),
    ...(opts.contextsubdir !== undefined ? { contextSubDir: opts.contextsubdir } : {}),
    keepGitDir: goBool(opts['build-arg:BUILDKIT_CONTEXT_KEEP_GIT_DIR'] ?? '') === true,
    namedContexts: withPrefix(opts, 'context:'),
    ...(opts['build-arg:BUILDKIT_SYNTAX'] ? { syntax: opts['build-arg:BUILDKIT_SYNTAX'] } : {}),
  };
}
