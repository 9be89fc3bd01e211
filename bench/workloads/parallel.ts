import { copy, image } from '../../llb/index.js';
import type { BenchEnvironment, BuildSpec, Workload } from '../workload.js';

/**
 * Two independent 1 s stages joined by a copy, plus a 5 s stage nothing uses (the LLB form leaves
 * it out by construction, as the Dockerfile frontend does when it prunes unused stages).
 */
export function parallelSpec(env: BenchEnvironment): BuildSpec {
  const base = image(env.pinnedBaseRef);
  const left = base.run({ shell: 'sleep 1; echo left > /left' }).root();
  const right = base.run({ shell: 'sleep 1; echo right > /right' }).root();
  return {
    llb: left.file(copy(right, '/right', '/right')),
    dockerfile: [
      `FROM ${env.baseRef} AS left`,
      'RUN sleep 1; echo left > /left',
      `FROM ${env.baseRef} AS right`,
      'RUN sleep 1; echo right > /right',
      `FROM ${env.baseRef} AS unused`,
      'RUN sleep 5',
      'FROM left',
      'COPY --from=right /right /right',
      '',
    ].join('\n'),
  };
}

export const parallelWorkload: Workload = {
  name: 'parallel',
  title: 'two 1 s stages + join, unused 5 s stage',
  targets: [
    { phase: 'cold', versus: 'buildkit', max: 1.0, note: 'issue 13: cold incl. pull ≤ 1.0×' },
    { phase: 'warm', versus: 'buildkit', max: 1.0, note: 'issue 13: warm rebuild ≤ 1.0×' },
  ],
  async run(ctx) {
    const spec = parallelSpec(ctx.env);
    await ctx.phase('cold', () => ctx.build(spec));
    await ctx.phase('warm', () => ctx.build(spec));
  },
};
