import { image } from '../../llb/index.js';
import type { BenchEnvironment, BuildSpec, Workload } from '../workload.js';

/**
 * A step with a cache mount, like a package install: the first run fills the cache with
 * `files` × 64 KiB, later runs find them there. `run` makes each build's step distinct, so all
 * three execute.
 */
export function cacheMountSpec(env: BenchEnvironment, run: number, files: number): BuildSpec {
  const shell = [
    'mkdir -p /cache/pkgs',
    'n=0',
    `for i in $(seq 1 ${files}); do [ -f /cache/pkgs/$i ] || { head -c 65536 /dev/urandom > /cache/pkgs/$i; n=$((n+1)); }; done`,
    `echo "run ${run} fetched $n" > /result`,
  ].join('; ');
  const llb = image(env.pinnedBaseRef)
    .run({ shell, mounts: [{ type: 'cache', dest: '/cache', id: 'kiln-bench-packages' }] })
    .root();
  return {
    llb,
    dockerfile: `FROM ${env.baseRef}\nRUN --mount=type=cache,target=/cache,id=kiln-bench-packages ${shell}\n`,
  };
}

export const cacheMountWorkload: Workload = {
  name: 'cache-mount',
  title: 'cache-mount step run three times',
  targets: [{ phase: 'run-3', versus: 'buildkit', max: 1.0, note: 'cache mount reused ≤ 1.0×' }],
  async run(ctx) {
    const files = ctx.env.quick ? 50 : 300;
    for (let run = 1; run <= 3; run++) {
      await ctx.phase(`run-${run}`, () => ctx.build(cacheMountSpec(ctx.env, run, files)));
    }
  },
};
