import { image, type State } from '../../llb/index.js';
import type { BenchEnvironment, BuildSpec, Workload } from '../workload.js';

/** `count` trivial RUN steps, each on the previous one's result. */
export function stepsSpec(env: BenchEnvironment, count = 30, tag = 'step'): BuildSpec {
  let state: State = image(env.pinnedBaseRef);
  const lines = [`FROM ${env.baseRef}`];
  for (let i = 0; i < count; i++) {
    const shell = `echo ${tag} ${i} >> /steps`;
    state = state.run({ shell }).root();
    lines.push(`RUN ${shell}`);
  }
  return { llb: state, dockerfile: `${lines.join('\n')}\n` };
}

export const stepsWorkload: Workload = {
  name: 'steps',
  title: '30 trivial RUN steps',
  targets: [
    { phase: 'cold', versus: 'buildkit', max: 0.9, note: 'issue 13: 30 RUN steps cold ≤ 0.9×' },
    { phase: 'warm', versus: 'buildkit', max: 1.0, note: 'issue 13: warm rebuild ≤ 1.0×' },
  ],
  async run(ctx) {
    const spec = stepsSpec(ctx.env);
    await ctx.phase('cold', () => ctx.build(spec));
    await ctx.phase('warm', () => ctx.build(spec));
  },
};
