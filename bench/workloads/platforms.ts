import { readFile } from 'node:fs/promises';
import type { Platform } from '../../oci/index.js';
import { copy, image, scratch, type State } from '../../llb/index.js';
import { WorkloadCheckError } from '../errors.js';
import type { BenchEnvironment, BuildSpec, Workload } from '../workload.js';

const amd64: Platform = { os: 'linux', architecture: 'amd64' };
const arm64: Platform = { os: 'linux', architecture: 'arm64' };

/**
 * A build for linux/amd64 and linux/arm64: a "compile" stage on the build platform (amd64, never
 * emulated) per target, its artifact copied into the target image, and a step there that runs
 * under QEMU for arm64. The LLB form gathers both results under one root, as a multi-platform
 * local export lays them out.
 */
export function platformsSpec(env: BenchEnvironment): BuildSpec {
  const target = (p: Platform): State => {
    const build = image(env.pinnedBaseRef, { platform: amd64 }).run({
      shell: `echo "built on $(uname -m) for ${p.architecture}" > /app`,
    });
    return image(env.pinnedBaseRef, { platform: p })
      .file(copy(build.root(), '/app', '/app'))
      .run({ shell: 'uname -m > /arch && cat /app >> /arch' })
      .root();
  };
  const llb = scratch()
    .file(copy(target(amd64), '/arch', '/linux_amd64/arch', { createDestPath: true }))
    .file(copy(target(arm64), '/arch', '/linux_arm64/arch', { createDestPath: true }));
  return {
    llb,
    dockerfile: [
      `FROM --platform=$BUILDPLATFORM ${env.baseRef} AS build`,
      'ARG TARGETARCH',
      'RUN echo "built on $(uname -m) for $TARGETARCH" > /app',
      `FROM ${env.baseRef}`,
      'COPY --from=build /app /app',
      'RUN uname -m > /arch && cat /app >> /arch',
      '',
    ].join('\n'),
    frontendOpts: { platform: 'linux/amd64,linux/arm64' },
  };
}

export const platformsWorkload: Workload = {
  name: 'platforms',
  title: 'two platforms (amd64 + arm64 under QEMU), cross stage',
  targets: [
    { phase: 'cold', versus: 'buildkit', max: 1.0, note: 'issue 13: two-platform cold ≤ 1.0×' },
    { phase: 'warm', versus: 'buildkit', max: 1.0, note: 'issue 13: warm rebuild ≤ 1.0×' },
  ],
  async run(ctx) {
    const spec = platformsSpec(ctx.env);
    const out = `${ctx.scratch}/out`;
    await ctx.phase('cold', () => ctx.build(spec, ['--output', `type=local,dest=${out}`]));
    const arch = await readFile(`${out}/linux_arm64/arch`, 'utf8').catch(() => '');
    if (!arch.startsWith('aarch64')) {
      throw new WorkloadCheckError('platforms', ctx.engine, `arm64 step reported ${JSON.stringify(arch)}`);
    }
    await ctx.phase('warm', () => ctx.build(spec, ['--output', `type=local,dest=${out}-warm`]));
  },
};
