import {
  type Platform,
  formatReference,
  normalizePlatform,
  parsePlatform,
  parseReference,
} from '../../oci/index.js';
import { argsToEnv, platformArgs, resolveMetaArgs } from './build-args.js';
import { BuildOptionError, atLines } from './errors.js';
import { goQuote } from './go-text.js';
import { type StageNode, buildStageGraph } from './instructions/stage-graph.js';
import { parseStages } from './instructions/stages.js';
import type { LineRange } from './instructions/types.js';
import { parseDockerfile } from './parser/parser.js';
import type { PlanOptions } from './plan.js';
import { ShellLexer } from './shell-lexer.js';
import type { StageContext } from './stage-state.js';

const knownOS = new Set(
  'aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris windows zos'.split(
    ' ',
  ),
);

/** containerd's platforms.Parse: a lone OS takes the default architecture, a lone word otherwise is an architecture. */
export function parsePlatformSpec(spec: string, defaults: Platform): Platform {
  if (!spec.includes('/')) {
    const word = spec.toLowerCase();
    if (knownOS.has(word)) return normalizePlatform({ os: word, architecture: defaults.architecture });
    return normalizePlatform({ os: defaults.os, architecture: word });
  }
  return parsePlatform(spec);
}

function sourceDateEpoch(buildArgs: ReadonlyMap<string, string>): number | undefined {
  const v = buildArgs.get('SOURCE_DATE_EPOCH');
  if (v === undefined || v === '') return undefined;
  if (!/^[+-]?\d+$/.test(v)) {
    throw new BuildOptionError({
      option: 'build-arg:SOURCE_DATE_EPOCH',
      value: v,
      message: `invalid SOURCE_DATE_EPOCH: ${v}: strconv.ParseInt: parsing ${goQuote(v)}: invalid syntax`,
    });
  }
  return Number(v);
}

/** Parses and resolves everything that needs no base image config: the stage graph and the ARG scope. */
export function prepare(opts: Omit<PlanOptions, 'resolveImage'>) {
  const parsed =
    typeof opts.dockerfile === 'object' && 'nodes' in opts.dockerfile
      ? opts.dockerfile
      : parseDockerfile(opts.dockerfile);
  const dockerfile = parseStages(parsed);
  const buildArgs = opts.buildArgs ?? new Map<string, string>();
  const lexer = new ShellLexer({ escapeToken: parsed.escapeToken });
  const targetPlatform = opts.targetPlatform ?? opts.buildPlatform;
  const platform = platformArgs({ buildPlatform: opts.buildPlatform, targetPlatform, buildArgs });
  const metaArgs = resolveMetaArgs({
    metaArgs: dockerfile.metaArgs,
    platformArgs: platform,
    buildArgs,
    lexer,
  });
  const graph = buildStageGraph(dockerfile, {
    lexer,
    metaEnv: argsToEnv(metaArgs.values),
    ...(opts.target ? { target: opts.target } : {}),
  });
  const epoch = sourceDateEpoch(buildArgs);
  const context: StageContext = {
    lexer,
    metaArgs: metaArgs.values,
    metaArgInfos: metaArgs.infos,
    buildArgs,
    targetPlatform,
    ...(epoch === undefined ? {} : { epoch }),
  };
  return { parsed, dockerfile, metaArgs, graph, context };
}

/** The platform FROM --platform asks for, parsed (undefined when the FROM line has none). */
export function stagePlatform(node: StageNode, buildPlatform: Platform): Platform | undefined {
  if (node.platform === undefined) return undefined;
  try {
    return parsePlatformSpec(node.platform, buildPlatform);
  } catch (err) {
    throw atLines(err, node.stage.location, `failed to parse platform ${node.platform}: `);
  }
}

/** The normalised reference of an image name (`docker.io/library/alpine:latest`). */
export function imageRef(name: string, location: LineRange): string {
  try {
    return formatReference(parseReference(name));
  } catch (err) {
    throw atLines(err, location, `failed to parse stage name ${goQuote(name)}: `);
  }
}
