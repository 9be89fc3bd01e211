import { join } from 'node:path';
import { image, mkfile } from '../../llb/index.js';
import { bigImage, pushLayout } from '../big-image.js';
import { runCommand } from '../command.js';
import { WorkloadCheckError } from '../errors.js';
import { deleteBlob, manifestExists } from '../registry-check.js';
import type { BenchEnvironment, BuildSpec, Workload } from '../workload.js';

const repo = 'bench/big';

function megabytes(env: BenchEnvironment): number {
  return env.quick ? 20 : 100;
}

/** A step that mounts the big image (it has no shell): forces the daemon to fetch and unpack all of it. */
function pullSpec(env: BenchEnvironment): BuildSpec {
  const ref = `${env.registryHost}/${repo}:latest`;
  const shell = 'test -f /big/data/blob9.bin';
  return {
    llb: image(env.pinnedBaseRef)
      .run({ shell, mounts: [{ dest: '/big', source: image(ref), readonly: true }] })
      .root(),
    dockerfile: `FROM ${env.baseRef}\nRUN --mount=from=${ref},target=/big ${shell}\n`,
  };
}

/** The big image plus one small file: pushing it moves the 100 MB layer to the other registry. */
function pushSpec(env: BenchEnvironment, marker: string): BuildSpec {
  const ref = `${env.registryHost}/${repo}:latest`;
  // LLB only: a Dockerfile would need a shell in the image to add the file.
  return {
    llb: image(ref).file(mkfile('/pushed', 0o644, new TextEncoder().encode(marker))),
  };
}

/**
 * Pull of a 100 MB image from the local registry (set against `skopeo copy` of it to an OCI
 * layout), then a push of it plus a small layer to a second registry (against `skopeo copy`
 * between the registries), so no cross-repository mount can skip the upload.
 */
export const pullWorkload: Workload = {
  name: 'pull-push',
  title: '100 MB image: pull, then push to another registry',
  baselineName: 'skopeo copy',
  targets: [
    { phase: 'pull', versus: 'buildkit', max: 1.0, note: 'pull of 100 MB ≤ 1.0× BuildKit' },
    { phase: 'push', versus: 'baseline', max: 1.0, note: 'push of 100 MB ≤ 1.0× skopeo copy' },
  ],
  async prepare(env) {
    const { dir } = await bigImage(env.inputsDir, megabytes(env));
    await pushLayout(dir, `${env.registryHost}/${repo}:latest`, env.signal);
  },
  async run(ctx) {
    await ctx.phase('pull', () => ctx.build(pullSpec(ctx.env)));
    await ctx.phase('warm', () => ctx.build(pullSpec(ctx.env)));
    const target = `bench/big-${ctx.engine}-${ctx.rep}`;
    const name = `${ctx.env.pushRegistryHost}/${target}:latest`;
    await ctx.phase('push', () =>
      ctx.build(pushSpec(ctx.env, target), [
        '--output',
        `type=image,name=${name},push=true,registry.insecure=true`,
      ]),
    );
    if (!(await manifestExists(ctx.env.pushRegistryHost, target, 'latest'))) {
      throw new WorkloadCheckError('pull-push', ctx.engine, `${name} is not in the registry after the push`);
    }
  },
  async baseline(ctx) {
    const source = `docker://${ctx.env.registryHost}/${repo}:latest`;
    const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
    await ctx.phase('pull', () =>
      runCommand('skopeo', [
        '--insecure-policy',
        'copy',
        ...tls,
        source,
        `oci:${join(ctx.scratch, 'oci')}:latest`,
      ]),
    );
    const target = `bench/big-skopeo-${ctx.rep}`;
    const dest = `docker://${ctx.env.pushRegistryHost}/${target}:latest`;
    await ctx.phase('push', () => runCommand('skopeo', ['--insecure-policy', 'copy', ...tls, source, dest]));
    // Otherwise the next repetition's skopeo mounts the layer from this repository, uploading nothing.
    const { layerDigest } = await bigImage(ctx.env.inputsDir, megabytes(ctx.env));
    await deleteBlob(ctx.env.pushRegistryHost, target, layerDigest);
  },
};
