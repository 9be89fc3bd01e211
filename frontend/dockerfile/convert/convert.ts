import { type State, local, mkdir, scratch } from '../../../llb/index.js';
import { type ImageConfig, type Platform, formatReference, parseReference } from '../../../oci/index.js';
import { proxyEnvFromBuildArgs } from '../build-args.js';
import { atLines } from '../errors.js';
import { emptyImageConfig } from '../image-config.js';
import type { ArgInstruction } from '../instructions/types.js';
import { type BuildPlan, type PlannedStep, type StagePlan, planBuild } from '../plan.js';
import { displayCommand, showsStageNames, stepTotal } from '../progress-name.js';
import { type StageState, keyOf, nonEnvArgs, stateEnv } from '../stage-state.js';
import { contextPaths } from './context-paths.js';
import { dispatchCopy } from './dispatch-copy.js';
import { dispatchRun } from './dispatch-run.js';
import { detectPlatform, imageSource } from './image-source.js';
import { type ConvertContext, type StageBuild, locationOf, stepName } from './stage-build.js';
import { type ConvertOptions, imageContextKey, imageKey, stageContextKey } from './types.js';

/** One Dockerfile converted for one target platform. */
export interface Conversion {
  /** The target stage's final state: marshal it with `platform` and the daemon's caps. */
  readonly state: State;
  /** The target's image config (`containerimage.config`). */
  readonly image: ImageConfig;
  readonly plan: BuildPlan;
  /** The platform ops default to (the target platform, else the build platform). */
  readonly platform: Platform;
}

/**
 * Converts a Dockerfile into LLB for one target platform exactly as BuildKit v0.11.6's
 * dockerfile2llb does (same ops, attributes, names, descriptions and source locations): plans the
 * build with phase 1, then turns the stages the target needs, in dependency order, into states —
 * FROM into a pinned image source, RUN into exec ops, COPY/ADD into FileOps (or MergeOps for
 * `--link`), WORKDIR into mkdir — with the build context as a local source following the paths the
 * Dockerfile reads. Synchronous and pure: base images and named contexts come resolved in `opts`.
 *
 * Throws DockerfileError (with the lines of the failing instruction), TargetNotFoundError and
 * BuildOptionError; an image missing from `opts.images` is an Error naming it.
 */
export function convertDockerfile(opts: ConvertOptions): Conversion {
  const contexts = opts.contexts ?? new Map();
  const targetPlatform = opts.targetPlatform ?? opts.buildPlatform;
  const replacedStages = new Map<number, ImageConfig | undefined>();
  for (const [key, source] of contexts) {
    if (key.startsWith('stage:')) replacedStages.set(Number(key.slice('stage:'.length)), source.image);
  }
  const plan = planBuild({
    ...opts,
    replacedStages,
    resolveImage: (ref, platform) => {
      const context = contexts.get(imageContextKey(ref));
      if (context) return context.image ?? emptyImageConfig(targetPlatform);
      return resolved(opts, ref, platform).config;
    },
  });
  const paths = contextPaths(plan);
  const contextName = opts.contextLocalName ?? 'context';
  const buildContext =
    opts.buildContext ??
    local(contextName, {
      sessionId: opts.sessionId,
      ...(opts.excludes?.length ? { excludePatterns: opts.excludes } : {}),
      sharedKeyHint: contextName,
      customName: '[internal] load build context',
      ...(paths?.length ? { followPaths: paths } : {}),
    });
  const byName = new Map<string, number>();
  for (const node of plan.graph.nodes)
    if (node.stage.name !== undefined) byName.set(node.stage.name, node.stage.index);
  const stages = new Map<number, State>();
  const ctx: ConvertContext = {
    opts,
    lexer: plan.context.lexer,
    targetPlatform,
    implicitTarget: opts.targetPlatform === undefined,
    buildContext,
    proxyEnv: proxyEnvFromBuildArgs(opts.buildArgs ?? new Map()),
    showStageNames: showsStageNames(plan.dockerfile),
    stages,
    sourceState(from, { allowIndex, location }) {
      const index = allowIndex && /^[+-]?\d+$/.test(from) ? Number(from) : byName.get(from.toLowerCase());
      if (index !== undefined) {
        const state = stages.get(index);
        if (state) return state;
      }
      if (from === 'scratch') return scratch();
      const ref = formatReference(parseReference(from));
      const context = contexts.get(imageContextKey(ref));
      if (context) return context.state.platform(targetPlatform);
      const image = resolved(opts, ref, targetPlatform);
      const platform = ctx.implicitTarget
        ? detectPlatform(image.config, targetPlatform, [opts.buildPlatform])
        : targetPlatform;
      return imageSource({
        name: from,
        ...image,
        platform,
        resolveMode: opts.resolveMode,
        customName: (pinned) => `FROM ${pinned}`,
        code: '',
        sourceLocations: locationOf(ctx, location),
      });
    },
  };
  for (const index of plan.graph.order) {
    const stage = plan.stages.get(index)!;
    stages.set(index, convertStage(ctx, stage));
  }
  return { state: stages.get(plan.graph.target)!, image: plan.image, plan, platform: targetPlatform };
}

function resolved(opts: ConvertOptions, ref: string, platform: Platform) {
  const image = opts.images.get(imageKey(ref, platform));
  if (!image) throw new Error(`image ${ref} for ${platform.os}/${platform.architecture} was not resolved`);
  return image;
}

function ignoresCache(opts: ConvertOptions, name: string | undefined): boolean {
  if (opts.ignoreCache === undefined) return false;
  if (opts.ignoreCache.length === 0) return true;
  return name !== undefined && opts.ignoreCache.some((n) => n.toLowerCase() === name.toLowerCase());
}

/** The state a stage starts from, before the settings its base image config brings. */
function baseState(ctx: ConvertContext, build: StageBuild): State {
  const { node, platform } = build.plan;
  if (node.baseStage !== undefined) return ctx.stages.get(node.baseStage)!;
  if (node.baseName === 'scratch') return scratch();
  const ref = build.plan.baseImage!;
  const context = ctx.opts.contexts?.get(imageContextKey(ref));
  if (context) return context.state.platform(platform);
  const image = resolved(ctx.opts, ref, build.plan.requestedPlatform);
  return imageSource({
    name: node.baseName,
    ...image,
    platform,
    resolveMode: ctx.opts.resolveMode,
    customName: (pinned) => stepName(ctx, build, `FROM ${pinned}`, platform, new Map()),
    code: node.stage.code,
    sourceLocations: locationOf(ctx, node.stage.location),
  });
}

function convertStage(ctx: ConvertContext, plan: StagePlan): State {
  if (plan.replaced) return ctx.opts.contexts!.get(stageContextKey(plan.node.stage.index))!.state;
  const build: StageBuild = {
    state: scratch(),
    index: 0,
    plan,
    total: stepTotal(plan.node),
    ignoreCache: ignoresCache(ctx.opts, plan.node.stage.name),
  };
  try {
    build.state = baseState(ctx, build);
  } catch (err) {
    throw atLines(err, plan.node.stage.location);
  }
  const start = plan.start;
  let state = build.state;
  for (const e of start.image.config?.Env ?? []) {
    const eq = e.indexOf('=');
    state = state.addEnv(keyOf(e), eq < 0 ? '' : e.slice(eq + 1));
  }
  if (ctx.opts.hostname) state = state.hostname(ctx.opts.hostname);
  if (start.image.config?.WorkingDir && start.workdir) state = state.dir(start.workdir);
  if (start.image.config?.User && start.user) state = state.user(start.user);
  build.state = state.network(ctx.opts.forceNetwork ?? 'sandbox');
  let before = start;
  for (const step of plan.steps) {
    try {
      dispatchStep(ctx, build, step, before);
    } catch (err) {
      throw atLines(err, step.instruction.location);
    }
    before = step.state;
  }
  return build.state;
}

function dispatchStep(ctx: ConvertContext, build: StageBuild, step: PlannedStep, before: StageState): void {
  const i = step.instruction;
  switch (i.kind) {
    case 'env':
      for (const { key, value } of i.pairs) build.state = build.state.addEnv(key, value);
      return;
    case 'arg':
      addArgs(build, i, step.state);
      return;
    case 'user':
      build.state = build.state.user(i.user);
      return;
    case 'workdir': {
      build.state = build.state.dir(i.path);
      const wd = step.state.image.config?.WorkingDir ?? '/';
      if (wd === '/') return;
      const env = stateEnv(step.state);
      const user = before.image.config?.User;
      build.state = build.state.file(
        mkdir(wd, 0o755, { makeParents: true, ...(user ? { owner: user } : {}) }),
        {
          customName: stepName(
            ctx,
            build,
            displayCommand(i.code, { lexer: ctx.lexer, env, run: false }),
            build.plan.platform,
            env,
          ),
          sourceLocations: locationOf(ctx, i.location),
        },
      );
      return;
    }
    case 'run':
      dispatchRun(ctx, build, step, before);
      return;
    case 'copy':
    case 'add':
      dispatchCopy(ctx, build, step, before);
      return;
    default:
      return;
  }
}

/** ARG values become environment for later steps (except BuildKit's own settings). */
function addArgs(build: StageBuild, i: ArgInstruction, after: StageState): void {
  const values = after.buildArgs.slice(after.buildArgs.length - i.args.length);
  for (const arg of values) {
    if (arg.value !== undefined && !nonEnvArgs.has(arg.key))
      build.state = build.state.addEnv(arg.key, arg.value);
  }
}
