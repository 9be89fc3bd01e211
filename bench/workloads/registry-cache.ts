import { WorkloadCheckError } from '../errors.js';
import { manifestExists } from '../registry-check.js';
import type { Workload } from '../workload.js';
import { stepsSpec } from './steps.js';

/**
 * mode=max registry cache of the 30-step build: exported from a daemon that has built it (so the
 * phase is the export itself plus a cached rebuild), then, after `buildctl prune --all`, imported
 * by a rebuild that should run nothing. Always in Dockerfile form: BuildKit v0.11.6 exports cache
 * for an LLB definition sent by buildctl but never consults the import for one (checked here: no
 * "importing cache manifest" step, every step re-run), while it does through the frontend.
 */
export const registryCacheWorkload: Workload = {
  name: 'registry-cache',
  title: 'mode=max registry cache export, prune, import (30 steps)',
  targets: [
    { phase: 'export', versus: 'absolute-ms', max: 1000, note: 'cache export of a 30-step build < 1 s' },
    { phase: 'import', versus: 'buildkit', max: 1.0, note: 'rebuild from imported cache ≤ 1.0×' },
  ],
  async run(ctx) {
    const spec = { ...stepsSpec(ctx.env, 30, 'cache'), form: 'dockerfile' as const };
    const repo = `bench/cache-${ctx.engine}-${ctx.rep}`;
    const ref = `${ctx.env.registryHost}/${repo}:latest`;
    await ctx.phase('build', () => ctx.build(spec));
    await ctx.phase('export', () =>
      ctx.build(spec, ['--export-cache', `type=registry,ref=${ref},mode=max,registry.insecure=true`]),
    );
    if (!(await manifestExists(ctx.env.registryHost, repo, 'latest'))) {
      throw new WorkloadCheckError(
        'registry-cache',
        ctx.engine,
        'no cache manifest in the registry after export',
      );
    }
    await ctx.buildctl(['prune', '--all']);
    await ctx.phase('import', async () => {
      const result = await ctx.build(
        spec,
        ['--import-cache', `type=registry,ref=${ref},registry.insecure=true`],
        { trace: true },
      );
      if (result.cached < 30) {
        throw new WorkloadCheckError(
          'registry-cache',
          ctx.engine,
          `only ${result.cached} steps cached after import`,
        );
      }
      return result;
    });
  },
};
