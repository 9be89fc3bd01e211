import type { Frontend, GatewayClient, GatewayRef, GatewayResult } from '../../../solver/index.js';
import { marshal, supportedLlbCaps } from '../../../llb/index.js';
import { forwardToSyntaxFrontend } from '../../gateway/index.js';
import { type Platform, hostPlatform, normalizePlatform } from '../../../oci/index.js';
import { formatPlatformArg } from '../build-args.js';
import { type Conversion, convertDockerfile } from '../convert/convert.js';
import {
  BuildOptionError,
  DockerfileError,
  DockerfileSourceError,
  FrontendUnsupportedError,
} from '../errors.js';
import { marshalImageConfig } from '../image-config.js';
import { parseStages } from '../instructions/stages.js';
import { detectSyntax } from '../parser/directives.js';
import type { ParseResult } from '../parser/node.js';
import { parseDockerfile } from '../parser/parser.js';
import { sourceRanges } from '../source-ranges.js';
import {
  type SubrequestResult,
  describeSubrequests,
  listTargets,
  outline,
  subrequestIds,
} from '../subrequests.js';
import { type LoadedDockerfile, loadDockerfile } from './load-dockerfile.js';
import { namedContextLookup } from './named-contexts.js';
import { type FrontendOptions, checkFrontendCaps, parseFrontendOptions } from './options.js';
import { resolveConversionInputs } from './resolve-inputs.js';

function subrequestResult(result: SubrequestResult): GatewayResult {
  return { metadata: new Map(Object.entries(result.metadata)) };
}

/** A failure at Dockerfile lines becomes one that carries the Dockerfile, so buildctl shows them. */
function withSource(err: unknown, loaded: LoadedDockerfile): unknown {
  if (!(err instanceof DockerfileError)) return err;
  return new DockerfileSourceError({
    source: {
      filename: loaded.filename,
      data: loaded.data,
      ranges: sourceRanges({ start: err.startLine, end: err.endLine }),
    },
    cause: err,
  });
}

/** `# syntax=` (or BUILDKIT_SYNTAX) names an external frontend: the build is handed to it. */
async function forwardSyntax(
  client: GatewayClient,
  options: FrontendOptions,
  text: string,
  signal: AbortSignal,
): Promise<GatewayResult | undefined> {
  const cmdline = options.syntax ?? detectSyntax(text)?.cmdline;
  if (cmdline === undefined) return undefined;
  return forwardToSyntaxFrontend(client, cmdline.trim().split(' ')[0]!, { cmdline, signal });
}

/** `refs.platforms` as BuildKit writes it (Go field order, empty fields left out). */
function platformsJson(list: readonly Platform[]): string {
  return JSON.stringify({
    Platforms: list.map((p) => ({
      ID: formatPlatformArg(p),
      Platform: {
        architecture: p.architecture,
        os: p.os,
        ...(p.osVersion ? { 'os.version': p.osVersion } : {}),
        ...(p.osFeatures?.length ? { 'os.features': p.osFeatures } : {}),
        ...(p.variant ? { variant: p.variant } : {}),
      },
    })),
  });
}

/**
 * Far more instructions than real Dockerfiles have. Planning costs time quadratic in them (each
 * step's history is a copy), so a 1 MB Dockerfile of LABELs would hold the daemon for minutes.
 */
const maxInstructions = 10_000;

async function build(
  client: GatewayClient,
  options: FrontendOptions,
  loaded: LoadedDockerfile,
  signal: AbortSignal,
): Promise<GatewayResult> {
  if (loaded.data.length === 0) {
    throw new BuildOptionError({
      option: 'filename',
      value: loaded.filename,
      message: 'the Dockerfile cannot be empty',
    });
  }
  const parsed: ParseResult = parseDockerfile(loaded.data);
  if (parsed.nodes.length > maxInstructions) {
    throw new DockerfileError({
      reason: `the Dockerfile has ${parsed.nodes.length} instructions, more than the limit of ${maxInstructions}`,
      startLine: parsed.nodes[maxInstructions]!.startLine,
    });
  }
  if (options.requestId === subrequestIds.targets)
    return subrequestResult(listTargets(parseStages(parsed), loaded.data));
  for (const w of parsed.warnings) client.warn(w.short, { detail: w.detail, url: w.url });
  const buildPlatform = normalizePlatform(client.workerPlatforms[0] ?? hostPlatform());
  const caps = supportedLlbCaps;
  const lookup = namedContextLookup({
    client,
    contexts: options.namedContexts,
    resolveMode: options.resolveMode,
    caps,
    signal,
  });
  const convert = async (targetPlatform: Platform | undefined): Promise<Conversion> => {
    const plan = {
      dockerfile: parsed,
      ...(options.target ? { target: options.target } : {}),
      buildArgs: options.buildArgs,
      labels: options.labels,
      buildPlatform,
      ...(targetPlatform ? { targetPlatform } : {}),
    };
    const inputs = await resolveConversionInputs({
      client,
      plan,
      lookup,
      resolveMode: options.resolveMode,
      prefixPlatform: options.multiPlatform,
    });
    signal.throwIfAborted();
    return convertDockerfile({
      ...plan,
      ...inputs,
      sourceMap: { filename: loaded.filename, data: loaded.data },
      sessionId: client.sessionId,
      // BuildKit v0.11.6 reads the build context from the `context` local whatever `contextkey`
      // says (the key only moves .dockerignore and the remote-context option); kept for parity.
      ...(loaded.buildContext ? { buildContext: loaded.buildContext } : {}),
      excludes: loaded.excludes,
      ...(options.ignoreCache ? { ignoreCache: options.ignoreCache } : {}),
      cacheNamespace: options.cacheNamespace,
      extraHosts: options.extraHosts,
      shmSize: options.shmSize,
      ulimits: options.ulimits,
      cgroupParent: options.cgroupParent,
      forceNetwork: options.forceNetwork,
      hostname: options.hostname,
      resolveMode: options.resolveMode,
      prefixPlatform: options.multiPlatform,
      caps,
    });
  };
  const targets = options.platforms ?? [undefined];
  if (options.requestId === subrequestIds.outline) {
    return subrequestResult(outline((await convert(targets[0])).plan, loaded.data));
  }
  const built = await Promise.all(
    targets.map(async (target) => {
      const conversion = await convert(target);
      const definition = marshal(conversion.state, { platform: conversion.platform, caps });
      const result = await client.solve({ definition }, signal);
      const platform = normalizePlatform(target ?? buildPlatform);
      return { platform, config: marshalImageConfig(conversion.image), ref: result.ref };
    }),
  );
  const metadata = new Map<string, Uint8Array>();
  const refs = new Map<string, GatewayRef>();
  for (const { platform, config, ref } of built) {
    const id = formatPlatformArg(platform);
    const key = options.multiPlatform ? `containerimage.config/${id}` : 'containerimage.config';
    metadata.set(key, Buffer.from(config));
    if (options.multiPlatform && ref) refs.set(id, ref);
  }
  metadata.set('refs.platforms', Buffer.from(platformsJson(built.map((b) => b.platform))));
  if (options.multiPlatform) return { refs, metadata };
  const ref = built[0]!.ref;
  return { ...(ref ? { ref } : {}), metadata };
}

/**
 * The `dockerfile.v0` frontend: builds a Dockerfile the way BuildKit v0.11.6's built-in frontend
 * does, through the gateway only. It reads the frontend options, loads the Dockerfile and
 * .dockerignore from the client's locals, resolves base images and named contexts, converts the
 * stages the target needs into LLB (one conversion per target platform, in parallel), solves them
 * and returns the result ref(s) with `containerimage.config[/<platform>]` and `refs.platforms`.
 * With `requestid` it answers the `frontend.outline`, `frontend.targets` and
 * `frontend.subrequests.describe` subrequests instead. A `# syntax=` directive (or BUILDKIT_SYNTAX)
 * hands the build to that frontend image through gateway.v0 (see forwardToSyntaxFrontend).
 *
 * Errors: BuildOptionError (bad options), DockerfileReadError, DockerfileSourceError (a failure
 * at Dockerfile lines: parse errors, unknown instructions, bad flags, unresolvable base images —
 * its `source` carries the Dockerfile and the lines for buildctl), TargetNotFoundError,
 * FrontendUnsupportedError (frontend caps, subrequests, oci-layout/input contexts), and whatever
 * the solver throws for the build itself (those point at lines through the definition's source map).
 */
export const dockerfileFrontend: Frontend = async (client, signal) => {
  const opts = client.frontendOpt;
  const capsError = checkFrontendCaps(opts['frontend.caps']);
  const options = parseFrontendOptions(opts, normalizePlatform(client.workerPlatforms[0] ?? hostPlatform()));
  const loaded = await loadDockerfile({ client, options, caps: supportedLlbCaps, signal });
  if (opts.cmdline === undefined) {
    const forwarded = await forwardSyntax(client, options, Buffer.from(loaded.data).toString('utf8'), signal);
    if (forwarded) return forwarded;
  }
  if (capsError) throw capsError;
  const requestId = options.requestId;
  if (requestId === subrequestIds.describe) return subrequestResult(describeSubrequests());
  if (requestId !== undefined && requestId !== subrequestIds.outline && requestId !== subrequestIds.targets) {
    throw new FrontendUnsupportedError({ what: requestId, message: `unsupported request ${requestId}` });
  }
  try {
    return await build(client, options, loaded, signal);
  } catch (err) {
    throw withSource(err, loaded);
  }
};
