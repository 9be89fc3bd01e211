import { WorkloadCheckError } from '../errors.js';
import { manifestExists } from '../registry-check.js';
import type { Workload } from '../workload.js';
import { stepsSpec } from './steps.js';

/**
 * The result of a small build pushed to the registry, from cold, then rebuilt and pushed again
 * (everything already there).
 */
export const pushWorkload: Workload = {
  name: 'push',
  title: 'build and push the result',
  targets: [
    { phase: 'cold', versus: 'buildkit', max: 1.0, note: 'build + push ≤ 1.0×' },
    { phase: 'warm', versus: 'buildkit', max: 1.0, note: 'rebuild + push again ≤ 1.0×' },
  ],
  async run(ctx) {
    const spec = stepsSpec(ctx.env, 3, 'push');
    const repo = `bench/push-${ctx.engine}-${ctx.rep}`;
    const output = `type=image,name=${ctx.env.registryHost}/${repo}:latest,push=true,registry.insecure=true`;
    await ctx.phase('cold', () => ctx.build(spec, ['--output', output]));
    if (!(await manifestExists(ctx.env.registryHost, repo, 'latest'))) {
      throw new WorkloadCheckError(
        'push',
        ctx.engine,
        `${repo}:latest is not in the registry after the push`,
      );
    }
    await ctx.phase('warm', () => ctx.build(spec, ['--output', output]));
  },
};
