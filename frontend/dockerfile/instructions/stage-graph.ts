import { DockerfileError, TargetNotFoundError, WordExpansionError, atLines } from '../errors.js';
import type { Env, ShellLexer } from '../shell-lexer.js';
import type { Dockerfile, Stage } from './types.js';

/** One stage with what it needs from the others. */
export interface StageNode {
  readonly stage: Stage;
  /** BuildKit's name for the stage: its `AS` name, or `stage-N`. */
  readonly name: string;
  /** The FROM argument with meta ARGs expanded. */
  readonly baseName: string;
  /** `FROM --platform=…` with meta ARGs expanded (not parsed). */
  readonly platform?: string;
  /** FROM names an earlier stage: its index. */
  readonly baseStage?: number;
  /** Stages used by `COPY --from` and `RUN --mount=from=` (not the base), sorted. */
  readonly dependencies: readonly number[];
  /** Images (not stages) used by `COPY --from` and `RUN --mount=from=`, in order of use. */
  readonly images: readonly string[];
  /** Meta ARGs the FROM line referred to. */
  readonly usedArgs: ReadonlySet<string>;
}

/** The stages of a Dockerfile and which of them a target needs. */
export interface StageGraph {
  readonly nodes: readonly StageNode[];
  /** Index of the target stage (the last stage unless `target` named one). */
  readonly target: number;
  /** The stages the target needs, itself included, each listed after everything it depends on. */
  readonly order: readonly number[];
}

function expandFrom(stage: Stage, lexer: ShellLexer, metaEnv: Env) {
  const used = new Set<string>();
  let baseName: string;
  try {
    const x = lexer.process(stage.baseName, metaEnv);
    baseName = x.result;
    for (const k of x.matched) used.add(k);
  } catch (err) {
    throw atLines(err, stage.location);
  }
  if (baseName === '') {
    throw new DockerfileError({
      reason: `base name (${stage.baseName}) should not be blank`,
      startLine: stage.location.start,
      endLine: stage.location.end,
    });
  }
  let platform: string | undefined;
  if (stage.platform !== undefined) {
    try {
      const x = lexer.process(stage.platform, metaEnv);
      platform = x.result;
      for (const k of x.matched) used.add(k);
    } catch (err) {
      // BuildKit's message names the (empty) result of the failed expansion.
      if (!(err instanceof WordExpansionError)) throw err;
      throw atLines(err, stage.location, 'failed to process arguments for platform : ');
    }
  }
  return { baseName, platform, used };
}

/**
 * Resolves FROM lines with the meta ARGs and links the stages: FROM an earlier stage's name makes
 * it the base; `COPY --from=<name|index>` and `RUN --mount=from=<name>` add dependencies (names
 * match any stage, case-insensitively; anything else is an image). Then picks the target and
 * lists only the stages reachable from it, in dependency order: the stages a build must run.
 *
 * Throws DockerfileError (`base name (…) should not be blank`, expansion failures, `invalid stage
 * index N`, `circular dependency detected on stage: X`, `dockerfile contains no stages to build`) and
 * TargetNotFoundError. Pure.
 */
export function buildStageGraph(
  dockerfile: Dockerfile,
  opts: { lexer: ShellLexer; metaEnv: Env; target?: string },
): StageGraph {
  const stages = dockerfile.stages;
  const byName = new Map<string, number>();
  const nodes: StageNode[] = [];
  for (const stage of stages) {
    const { baseName, platform, used } = expandFrom(stage, opts.lexer, opts.metaEnv);
    const baseStage = byName.get(baseName);
    if (stage.name !== undefined) byName.set(stage.name, stage.index);
    nodes.push({
      stage,
      name: stage.name ?? `stage-${stage.index}`,
      baseName,
      ...(platform === undefined ? {} : { platform }),
      ...(baseStage === undefined ? {} : { baseStage }),
      dependencies: [],
      images: [],
      usedArgs: used,
    });
  }
  const linked = nodes.map((node) => ({ ...node, ...references(node.stage, byName, stages.length) }));
  checkCycles(linked);
  // Only global ARGs and comments (BuildKit's message); there is no last stage to target.
  if (stages.length === 0)
    throw new DockerfileError({ reason: 'dockerfile contains no stages to build', startLine: 1 });

  let target = stages.length - 1;
  if (opts.target !== undefined && opts.target !== '') {
    const found = byName.get(opts.target.toLowerCase());
    if (found === undefined) throw new TargetNotFoundError({ target: opts.target });
    target = found;
  }
  const order: number[] = [];
  const visit = (i: number): void => {
    if (order.includes(i)) return;
    const node = linked[i]!;
    if (node.baseStage !== undefined) visit(node.baseStage);
    for (const d of node.dependencies) visit(d);
    order.push(i);
  };
  visit(target);
  return { nodes: linked, target, order };
}

function references(stage: Stage, byName: ReadonlyMap<string, number>, count: number) {
  const deps = new Set<number>();
  const images: string[] = [];
  const use = (from: string, allowIndex: boolean, lines: Stage['location']): void => {
    const named = byName.get(from.toLowerCase());
    if (named !== undefined) {
      deps.add(named);
      return;
    }
    if (allowIndex && /^[+-]?\d+$/.test(from)) {
      const index = Number(from);
      if (index < 0 || index >= count) {
        throw new DockerfileError({
          reason: `invalid stage index ${index}`,
          startLine: lines.start,
          endLine: lines.end,
        });
      }
      deps.add(index);
      return;
    }
    if (!images.includes(from)) images.push(from);
  };
  for (const cmd of stage.commands) {
    if (cmd.kind === 'copy' && cmd.from !== undefined) use(cmd.from, true, cmd.location);
    if (cmd.kind === 'run')
      for (const m of cmd.mounts) if (m.from !== undefined) use(m.from, false, cmd.location);
  }
  return { dependencies: [...deps].sort((a, b) => a - b), images };
}

function checkCycles(nodes: readonly StageNode[]): void {
  const done = new Set<number>();
  const onPath = new Set<number>();
  const visit = (i: number): boolean => {
    if (done.has(i)) return false;
    done.add(i);
    onPath.add(i);
    for (const d of nodes[i]!.dependencies) if (onPath.has(d) || visit(d)) return true;
    onPath.delete(i);
    return false;
  };
  for (const node of nodes) {
    if (visit(node.stage.index)) {
      throw new DockerfileError({
        reason: `circular dependency detected on stage: ${node.name}`,
        startLine: node.stage.location.start,
        endLine: node.stage.location.end,
      });
    }
  }
}
