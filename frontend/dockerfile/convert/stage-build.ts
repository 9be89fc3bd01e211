import type { ProxyEnv, SourceLocation, State } from '../../../llb/index.js';
import type { Platform } from '../../../oci/index.js';
import type { LineRange } from '../instructions/types.js';
import type { StagePlan } from '../plan.js';
import { platformLabel, stepPrefix } from '../progress-name.js';
import type { Env, ShellLexer } from '../shell-lexer.js';
import { sourceRanges } from '../source-ranges.js';
import type { ConvertOptions } from './types.js';

/** What every stage of one conversion shares. */
export interface ConvertContext {
  readonly opts: ConvertOptions;
  readonly lexer: ShellLexer;
  readonly targetPlatform: Platform;
  /** No `platform` option: base images may pick the platform they were built for. */
  readonly implicitTarget: boolean;
  /** The build context (local, remote or input), what COPY and RUN mounts without `from` read. */
  readonly buildContext: State;
  readonly proxyEnv: ProxyEnv | undefined;
  /** Stage names appear in progress names (more than one stage, counting `--from` images). */
  readonly showStageNames: boolean;
  /** The latest state of each stage converted so far, by index. */
  readonly stages: Map<number, State>;
  /**
   * What `COPY --from` (`allowIndex`, with its location) or `RUN --mount=from=` names: a stage
   * (its state as converted so far), else an image (pinned as base images are), a named context or
   * scratch. Each image use gets its own source vertex with its own location, as in BuildKit;
   * equal ops merge when marshalled.
   */
  sourceState(from: string, opts: { allowIndex: boolean; location?: LineRange }): State;
}

/** The stage being converted: its LLB state and its progress counter. */
export interface StageBuild {
  state: State;
  /** Steps named so far (BuildKit's cmdIndex). */
  index: number;
  readonly plan: StagePlan;
  /** Steps counted in `[n/total]`. */
  readonly total: number;
  readonly ignoreCache: boolean;
}

/**
 * The progress name of the next step, numbered as BuildKit numbers them: `[stage 2/5] RUN …`,
 * `[linux/arm64 stage 2/5] …` when the platform is shown. Advances the counter; a stage without
 * counted steps gets the bare text.
 */
export function stepName(
  ctx: ConvertContext,
  build: StageBuild,
  text: string,
  platform: Platform | undefined,
  env: Env,
): string {
  if (build.total === 0) return text;
  build.index++;
  const prefix = stepPrefix({
    index: build.index,
    total: build.total,
    ...(ctx.showStageNames ? { stageName: build.plan.node.name } : {}),
    ...(ctx.opts.prefixPlatform && platform ? { platform: platformLabel(platform, env) } : {}),
  });
  return prefix + text;
}

/** The source location of an instruction (one range per line), or none without a source map. */
export function locationOf(ctx: ConvertContext, lines: LineRange | undefined): SourceLocation[] {
  const sourceMap = ctx.opts.sourceMap;
  if (!sourceMap) return [];
  return [{ sourceMap, ranges: lines ? sourceRanges(lines) : [] }];
}

/** The description BuildKit puts on the ops of an instruction. */
export function commandDescription(code: string): Record<string, string> {
  return { 'com.docker.dockerfile.v1.command': code };
}
