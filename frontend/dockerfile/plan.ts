import type { ImageConfig, Platform } from '../../oci/index.js';
import type { MetaArgs } from './build-args.js';
import { atLines } from './errors.js';
import type { StageGraph, StageNode } from './instructions/stage-graph.js';
import { parseInstruction } from './instructions/parse-instruction.js';
import type { Dockerfile, Instruction } from './instructions/types.js';
import type { ParseResult } from './parser/node.js';
import { parseDockerfile } from './parser/parser.js';
import { imageRef, prepare, stagePlatform } from './plan-prepare.js';
import { dispatchInstruction } from './apply-instruction.js';
import { baseImageConfig } from './image-config.js';
import {
  type StageBase,
  type StageContext,
  type StageState,
  addStateEnv,
  joinDir,
  keyOf,
  startStage,
} from './stage-state.js';

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
  /**
   * Stages a named context replaces (`context:<stage name>=…`), by index, with the image config
   * the context brings (undefined: none). Such a stage runs none of its instructions.
   */
  readonly replacedStages?: ReadonlyMap<number, ImageConfig | undefined>;
}

/** One dispatched instruction: as expanded, and the state after it. */
export interface PlannedStep {
  readonly instruction: Instruction;
  /** The state after the step, without its image's history (only `StagePlan.final` has it). */
  readonly state: StageState;
  /** True for a trigger inherited through the base image's ONBUILD. */
  readonly onbuild: boolean;
}

export interface StagePlan {
  readonly node: StageNode;
  /** A named context replaces the stage: it has no steps and starts from the context. */
  readonly replaced: boolean;
  /** The platform the stage builds for. */
  readonly platform: Platform;
  /** The platform asked of the base image (FROM --platform, else the target's), before detection. */
  readonly requestedPlatform: Platform;
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

function parseTrigger(trigger: string, node: StageNode): Instruction {
  const nodes = parseDockerfile(trigger).nodes;
  if (nodes.length !== 1) throw new Error('onbuild trigger should be a single expression');
  const instruction = parseInstruction(nodes[0]!);
  if (instruction.kind === 'from') throw new Error('*instructions.Stage is not a command type');
  return { ...instruction, location: node.stage.location };
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
  if (opts.replacedStages?.has(node.stage.index)) {
    return replacedStage(node, opts.replacedStages.get(node.stage.index), platform ?? ctx.targetPlatform);
  }
  const requestedPlatform = platform ?? ctx.targetPlatform;
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
    baseImage = imageRef(node.baseName, location);
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
    // Every step keeping its own copy of a growing history would hold memory quadratic in the
    // number of instructions; nothing reads the history of an intermediate state.
    const { history: _history, ...image } = state.image;
    steps.push({ instruction: next.instruction, state: { ...state, image }, onbuild });
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
    replaced: false,
    platform,
    requestedPlatform,
    ...(baseImage === undefined ? {} : { baseImage }),
    emptyBase,
    start: started.state,
    steps,
    final: state,
  };
}

/**
 * A stage a named context stands in for, as BuildKit leaves it: the context's image config (or an
 * empty one) and the environment and directory the context's state takes from it; no PATH default.
 */
function replacedStage(node: StageNode, config: ImageConfig | undefined, wanted: Platform): StagePlan {
  const image: ImageConfig = config
    ? baseImageConfig(config)
    : // Go's zero Image: even the rootfs type is empty.
      {
        architecture: '',
        os: '',
        rootfs: { type: '', diff_ids: [] } as unknown as ImageConfig['rootfs'],
        config: {},
      };
  let env: string[] = [];
  for (const e of image.config?.Env ?? []) {
    const eq = e.indexOf('=');
    env = addStateEnv(env, keyOf(e), eq < 0 ? '' : e.slice(eq + 1));
  }
  const platform =
    config?.os && config.architecture
      ? {
          os: config.os,
          architecture: config.architecture,
          ...(config.variant ? { variant: config.variant } : {}),
        }
      : wanted;
  const state: StageState = {
    image,
    env,
    workdir: joinDir('/', image.config?.WorkingDir ?? ''),
    platform,
    buildArgs: [],
    cmdSet: false,
    outline: { args: new Map(), usedArgs: new Set(), secrets: new Map(), ssh: new Map() },
  };
  return {
    node,
    replaced: true,
    platform,
    requestedPlatform: wanted,
    emptyBase: false,
    start: state,
    steps: [],
    final: state,
  };
}

function autoDetectPlatform(image: ImageConfig, target: Platform, supported: readonly Platform[]): Platform {
  if (target.os === image.os && target.architecture === image.architecture) return target;
  return supported.find((p) => p.os === image.os && p.architecture === image.architecture) ?? target;
}
