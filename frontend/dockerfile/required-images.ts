import type { Platform } from '../../oci/index.js';
import type { StageNode } from './instructions/stage-graph.js';
import type { LineRange } from './instructions/types.js';
import type { PlanOptions } from './plan.js';
import { imageRef, prepare, stagePlatform } from './plan-prepare.js';

/** An image a build needs: a stage's base, or the source of `COPY --from` / `RUN --mount=from=`. */
export interface RequiredImage {
  /** The stage that uses it (for a base image: the stage it starts). */
  readonly stage: number;
  /** `base` for FROM, `from` for COPY --from and RUN --mount from= naming no stage. */
  readonly use: 'base' | 'from';
  /** The name as written (meta ARGs expanded): named contexts and error messages use it. */
  readonly name: string;
  /** The normalised reference with a tag (`docker.io/library/alpine:latest`). */
  readonly ref: string;
  readonly platform: Platform;
  /** FROM --platform chose the platform (no detection from the image's config). */
  readonly explicitPlatform: boolean;
  /** Lines of the instruction that names it. */
  readonly location: LineRange;
}

/**
 * The images a build of these options needs, in stage order: the base images `planBuild` will
 * pass to `resolveImage`, then (per stage) the images `COPY --from` and `RUN --mount=from=` name,
 * so phase 2 can fetch their configs (in parallel, with its signal) before planning. Only stages
 * the target needs are listed, and never `scratch`. Throws like planBuild does before it resolves
 * anything.
 */
export function requiredImages(opts: Omit<PlanOptions, 'resolveImage'>): RequiredImage[] {
  const { graph, context } = prepare(opts);
  const out: RequiredImage[] = [];
  for (const index of [...graph.order].sort((a, b) => a - b)) {
    const node = graph.nodes[index]!;
    if (node.baseStage === undefined && node.baseName !== 'scratch' && !opts.replacedStages?.has(index)) {
      const platform = stagePlatform(node, opts.buildPlatform);
      out.push({
        stage: index,
        use: 'base',
        name: node.baseName,
        ref: imageRef(node.baseName, node.stage.location),
        platform: platform ?? context.targetPlatform,
        explicitPlatform: platform !== undefined,
        location: node.stage.location,
      });
    }
    for (const name of node.images) {
      if (name === 'scratch') continue;
      const location = usedAt(node, name);
      out.push({
        stage: index,
        use: 'from',
        name,
        ref: imageRef(name, location),
        platform: context.targetPlatform,
        explicitPlatform: false,
        location,
      });
    }
  }
  return out;
}

function usedAt(node: StageNode, name: string): LineRange {
  for (const cmd of node.stage.commands) {
    if (cmd.kind === 'copy' && cmd.from === name) return cmd.location;
    if (cmd.kind === 'run' && cmd.mounts.some((m) => m.from === name)) return cmd.location;
  }
  return node.stage.location;
}

/**
 * The stages a build of these options runs, each after the stages it needs (the target last);
 * what named contexts may replace. Throws like planBuild does before it resolves anything.
 */
export function neededStages(opts: Omit<PlanOptions, 'resolveImage'>): StageNode[] {
  const { graph } = prepare(opts);
  return graph.order.map((i) => graph.nodes[i]!);
}
