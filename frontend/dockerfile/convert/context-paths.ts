import type { BuildPlan } from '../plan.js';
import { isHttpSource } from './dispatch-copy.js';
import { goJoin } from './go-path.js';

/**
 * The paths of the build context the converted stages read, as BuildKit collects them for
 * `local.followpaths`: sources of ADD (except URLs) and of COPY without `--from`, and the sources
 * of RUN mounts without `from` (cache mounts excepted) — relative, sorted; undefined when one of
 * them is the whole context. Stages a named context replaces read nothing.
 */
export function contextPaths(plan: BuildPlan): string[] | undefined {
  const paths = new Set<string>();
  for (const stage of plan.stages.values()) {
    for (const { instruction: i } of stage.steps) {
      if (i.kind === 'add') {
        for (const src of i.sources) if (!isHttpSource(src)) paths.add(goJoin('/', src));
      } else if (i.kind === 'copy' && i.from === undefined) {
        for (const src of i.sources) paths.add(goJoin('/', src));
      } else if (i.kind === 'run') {
        for (const spec of i.mounts) {
          const m = spec.resolved;
          if (!m || m.from !== undefined || m.type === 'cache' || m.type === 'secret' || m.type === 'ssh')
            continue;
          paths.add(goJoin('/', m.source ?? ''));
        }
      }
    }
  }
  if (paths.has('/')) return undefined;
  const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
  return [...paths].map((p) => goJoin('.', p)).sort((a, b) => Buffer.compare(bytes(a), bytes(b)));
}
