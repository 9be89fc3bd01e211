import { image, mkfile } from '../../llb/index.js';
import type { BenchEnvironment, BuildSpec, Workload } from '../workload.js';

/** A small project: a generated source file, a "compile" step, a test step. */
export function projectSpec(env: BenchEnvironment, n: number): BuildSpec {
  const source = `int main() { return ${n}; }\n`;
  const llb = image(env.pinnedBaseRef)
    .file(mkfile('/src.c', 0o644, new TextEncoder().encode(source)))
    .run({ shell: `md5sum /src.c > /app && echo project ${n} >> /app` })
    .root()
    .run({ shell: `grep -q "project ${n}" /app` })
    .root();
  return {
    llb,
    dockerfile: [
      `FROM ${env.baseRef}`,
      `RUN printf '%s' '${source.trimEnd()}' > /src.c`,
      `RUN md5sum /src.c > /app && echo project ${n} >> /app`,
      `RUN grep -q "project ${n}" /app`,
      '',
    ].join('\n'),
  };
}

/** Ten buildctl calls at once, each a different project on the same base image. */
export const concurrentWorkload: Workload = {
  name: 'concurrent',
  title: '10 concurrent builds of distinct small projects',
  targets: [
    { phase: 'cold', versus: 'buildkit', max: 1.0, note: '10 concurrent builds ≤ 1.0×' },
    { phase: 'warm', versus: 'buildkit', max: 1.0, note: 'issue 13: warm rebuild ≤ 1.0×' },
  ],
  async run(ctx) {
    const specs = Array.from({ length: 10 }, (_, n) => projectSpec(ctx.env, n));
    await ctx.phase('cold', async () => {
      await Promise.all(specs.map((s) => ctx.build(s)));
    });
    await ctx.phase('warm', async () => {
      await Promise.all(specs.map((s) => ctx.build(s)));
    });
  },
};
