import { join } from 'node:path';
import { copy, image, local } from '../../llb/index.js';
import { runCommand } from '../command.js';
import { changeOneFile, contextTree, fullContext, quickContext } from '../context-tree.js';
import { WorkloadCheckError } from '../errors.js';
import type { BenchEnvironment, BuildSpec, Workload } from '../workload.js';

const copyName = 'copy context';

function contextDir(env: BenchEnvironment): Promise<string> {
  return contextTree(env.inputsDir, env.quick ? quickContext : fullContext);
}

/** `COPY . /src/` of the whole context onto the base image (options as the Dockerfile frontend sets them). */
export function contextSpec(env: BenchEnvironment, dir: string): BuildSpec {
  const context = local('context', { sharedKeyHint: 'context' });
  const llb = image(env.pinnedBaseRef).file(
    copy(context, '/', '/src/', {
      copyDirContentsOnly: true,
      createDestPath: true,
      followSymlinks: true,
      allowWildcard: true,
      allowEmptyWildcard: true,
    }),
    { customName: copyName },
  );
  return { llb, contextDir: dir, dockerfile: `FROM ${env.baseRef}\nCOPY . /src/\n` };
}

/**
 * The context workload: sent and copied in from cold, rebuilt unchanged, then rebuilt with one
 * file changed. The copy step's own time (from the trace) is set against `cp -a` of the same tree.
 */
export const contextWorkload: Workload = {
  name: 'context',
  title: 'context of 5,000 files / 59 MB copied in',
  baselineName: 'cp -a',
  targets: [
    { phase: 'cold', versus: 'buildkit', max: 0.9, note: 'issue 13: 59 MB context cold ≤ 0.9×' },
    { phase: 'changed', versus: 'buildkit', max: 0.8, note: 'issue 13: one file changed ≤ 0.8×' },
    { phase: 'warm', versus: 'buildkit', max: 1.0, note: 'issue 13: warm rebuild ≤ 1.0×' },
    { phase: 'copy-step', versus: 'baseline', max: 1.5, note: 'COPY of the tree ≤ 1.5× cp -a' },
  ],
  async prepare(env) {
    await contextDir(env);
  },
  async run(ctx) {
    const dir = await contextDir(ctx.env);
    const spec = contextSpec(ctx.env, dir);
    await ctx.phase('cold', async () => {
      const result = await ctx.build(spec, [], { trace: true });
      const copyMs = result.vertexMs.get(copyName);
      if (copyMs === undefined) {
        throw new WorkloadCheckError('context', ctx.engine, `no "${copyName}" step in the trace`);
      }
      ctx.record('copy-step', copyMs);
      return result;
    });
    await ctx.phase('warm', () => ctx.build(spec));
    const restore = await changeOneFile(dir, `${ctx.engine}-${ctx.rep}`);
    try {
      await ctx.phase('changed', () => ctx.build(spec));
    } finally {
      await restore();
    }
  },
  async baseline(ctx) {
    const dir = await contextDir(ctx.env);
    await ctx.phase('copy-step', () => runCommand('cp', ['-a', dir, join(ctx.scratch, 'copy')]));
  },
};
