import {
  type ImageConfig,
  type Platform,
  formatReference,
  normalizePlatform,
  parsePlatform,
  parseReference,
} from '../../oci/index.js';
import { type MetaArgs, argsToEnv, platformArgs, resolveMetaArgs } from './build-args.js';
import { BuildOptionError, atLines } from './errors.js';
import { goQuote } from './go-text.js';
import { type StageGraph, type StageNode, buildStageGraph } from './instructions/stage-graph.js';
import { parseInstruction } from './instructions/parse-instruction.js';
import { parseStages } from './instructions/stages.js';
import type { Dockerfile, Instruction } from './instructions/types.js';
import type { ParseResult } from './parser/node.js';
import { parseDockerfile } from './parser/parser.js';
import { ShellLexer } from './shell-lexer.js';
import { dispatchInstruction } from './apply-instruction.js';
import { type StageBase, type StageContext, type StageState, startStage } from './stage-state.js';

/** Inputs of a build that decide its image config (the LLB-only options live in phase 2). */
export interface PlanOptions {
  /** The Dockerfile text, or its parse result. */
  readonly dockerfile: string | Uint8Array | ParseResult;
  /** `--target`; the last stage when absent. */
  readonly target?: string;
  /** `build-arg:K=V` options (including SOURCE_DATE_EPOCH and the proxy ARGs). */
  readonly buildArgs?: ReadonlyMap<string, string>;
  /** `label:K=V` options, set on the target's image. */
  readonly labels?: ReadonlyMap<string, string>;
  /** The worker's platform (BUILDPLATFORM). */
  readonly buildPlatform: Platform;
  /** An explicit target platform (`platform=` option); the build platform when absent. */
  readonly targetPlatform?: Platform;
  /**
   * The config of a base image, by normalised reference (`docker.io/library/alpine:3.18`) and
   * platform. Phase 2 resolves the images the graph names beforehand; throw to fail the stage.
   */
  readonly resolveImage: (ref: string, platform: Platform) => ImageConfig;
}

/** One dispatched instruction: as expanded, and the state after it. */
export interface PlannedStep {
  readonly instruction: Instruction;
  readonly state: StageState;
  /** True for a trigger inherited through the base image's ONBUILD. */
  readonly onbuild: boolean;
}

export interface StagePlan {
  readonly node: StageNode;
  /** The platform the stage builds for. */
  readonly platform: Platform;
  /** The base image reference when FROM names an image (normalised, without digest). */
  readonly baseImage?: string;
  /** The base image has no layers: the stage starts from an empty filesystem. */
  readonly emptyBase: boolean;
  readonly start: StageState;
  readonly steps: readonly PlannedStep[];
  readonly final: StageState;
}

/** Everything about a build that does not need LLB: stages, states after every step, the image. */
export interface BuildPlan {
  readonly dockerfile: Dockerfile;
  readonly escapeToken: ParseResult['escapeToken'];
  readonly graph: StageGraph;
  readonly metaArgs: MetaArgs;
  readonly context: StageContext;
  /** Plans of the stages the target needs, by stage index, in dependency order. */
  readonly stages: ReadonlyMap<number, StagePlan>;
  /** The target's image config with history, `label:` options and an explicit platform applied. */
  readonly image: ImageConfig;
}

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

function parseTrigger(trigger: string, node: StageNode): Instruction {
  const nodes = parseDockerfile(trigger).nodes;
  if (nodes.length !== 1) throw new Error('onbuild trigger should be a single expression');
  const instruction = parseInstruction(nodes[0]!);
  if (instruction.kind === 'from') throw new Error('*instructions.Stage is not a command type');
  return { ...instruction, location: node.stage.location };
}

/** Parses and resolves everything that needs no base image config. */
function prepare(opts: Omit<PlanOptions, 'resolveImage'>) {
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
function stagePlatform(node: StageNode, buildPlatform: Platform): Platform | undefined {
  if (node.platform === undefined) return undefined;
  try {
    return parsePlatformSpec(node.platform, buildPlatform);
  } catch (err) {
    throw atLines(err, node.stage.location, `failed to parse platform ${node.platform}: `);
  }
}

/** The normalised reference of a FROM image (`docker.io/library/alpine:latest`). */
function imageRef(node: StageNode): string {
  try {
    return formatReference(parseReference(node.baseName));
  } catch (err) {
    throw atLines(err, node.stage.location, `failed to parse stage name ${goQuote(node.baseName)}: `);
  }
}

/** A base image planBuild will resolve. */
export interface RequiredImage {
  readonly stage: number;
  readonly ref: string;
  readonly platform: Platform;
}

/**
 * The base images `planBuild` will pass to `resolveImage` for these options, in stage order, so
 * phase 2 can fetch their configs (in parallel, with its signal) before planning. Only stages the
 * target needs are listed. Throws like planBuild does before it resolves anything.
 */
export function requiredImages(opts: Omit<PlanOptions, 'resolveImage'>): RequiredImage[] {
  const { graph, context } = prepare(opts);
  const out: RequiredImage[] = [];
  for (const index of graph.order) {
    const node = graph.nodes[index]!;
    if (node.baseStage !== undefined || node.baseName === 'scratch') continue;
    const platform = stagePlatform(node, opts.buildPlatform) ?? context.targetPlatform;
    out.push({ stage: index, ref: imageRef(node), platform });
  }
  return out.sort((x, y) => x.stage - y.stage);
}

/**
 * Plans a build for one target platform: parses, resolves ARGs and FROM lines, finds the stages
 * the target needs, and dispatches their instructions (ONBUILD triggers of base images first)
 * into image configs and history — everything BuildKit's converter does except building LLB.
 * Pure apart from `resolveImage`; cost linear in the Dockerfile plus the base configs.
 *
 * Throws DockerfileError (parse and instruction errors, expansion failures, bad platforms, and
 * whatever `resolveImage` throws, wrapped with the FROM line), TargetNotFoundError, and
 * BuildOptionError for a SOURCE_DATE_EPOCH that is not a number.
 */
export function planBuild(opts: PlanOptions): BuildPlan {
  const { parsed, dockerfile, metaArgs, graph, context } = prepare(opts);
  const stages = new Map<number, StagePlan>();
  for (const index of graph.order) {
    const node = graph.nodes[index]!;
    stages.set(index, planStage(context, node, stages, opts, !opts.targetPlatform));
  }
  const target = stages.get(graph.target)!;
  let image = target.final.image;
  if (opts.labels && opts.labels.size > 0) {
    image = {
      ...image,
      config: { ...image.config, Labels: { ...image.config?.Labels, ...Object.fromEntries(opts.labels) } },
    };
  }
  if (opts.targetPlatform) {
    const { variant: _variant, ...rest } = image;
    const p = opts.targetPlatform;
    image = { ...rest, os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) };
  }
  return { dockerfile, escapeToken: parsed.escapeToken, graph, metaArgs, context, stages, image };
}

function planStage(
  ctx: StageContext,
  node: StageNode,
  done: ReadonlyMap<number, StagePlan>,
  opts: PlanOptions,
  implicitTarget: boolean,
): StagePlan {
  const location = node.stage.location;
  let platform = stagePlatform(node, opts.buildPlatform);
  let base: StageBase;
  let baseImage: string | undefined;
  let emptyBase = false;
  if (node.baseStage !== undefined) {
    const from = done.get(node.baseStage)!;
    base = { kind: 'stage', state: from.final };
    platform = from.final.platform;
    emptyBase = from.emptyBase;
  } else if (node.baseName === 'scratch') {
    base = { kind: 'scratch' };
    emptyBase = true;
    platform ??= ctx.targetPlatform;
  } else {
    baseImage = imageRef(node);
    const wanted = platform ?? ctx.targetPlatform;
    let config: ImageConfig;
    try {
      config = opts.resolveImage(baseImage, wanted);
    } catch (err) {
      throw atLines(err, location, `${node.baseName}: `);
    }
    if (platform === undefined && implicitTarget)
      platform = autoDetectPlatform(config, wanted, [opts.buildPlatform]);
    platform ??= wanted;
    const history = config.history ?? [];
    emptyBase = (config.rootfs?.diff_ids ?? []).length === 0 && history.every((h) => h.empty_layer);
    base = { kind: 'image', config };
  }
  const started = startStage(ctx, { base, platform, usedArgs: node.usedArgs });
  const steps: PlannedStep[] = [];
  let state = started.state;
  const run = (instruction: Instruction, onbuild: boolean): void => {
    const next = dispatchInstruction(ctx, state, instruction);
    state = next.state;
    steps.push({ instruction: next.instruction, state, onbuild });
  };
  for (const trigger of started.onbuild) {
    let instruction: Instruction;
    try {
      instruction = parseTrigger(trigger, node);
    } catch (err) {
      throw atLines(err, location);
    }
    run(instruction, true);
  }
  for (const instruction of node.stage.commands) run(instruction, false);
  return {
    node,
    platform,
    ...(baseImage === undefined ? {} : { baseImage }),
    emptyBase,
    start: started.state,
    steps,
    final: state,
  };
}

function autoDetectPlatform(image: ImageConfig, target: Platform, supported: readonly Platform[]): Platform {
  if (target.os === image.os && target.architecture === image.architecture) return target;
  return supported.find((p) => p.os === image.os && p.architecture === image.architecture) ?? target;
}
