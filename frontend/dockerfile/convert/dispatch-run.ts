import { posix } from 'node:path';
import { type RunMount, type RunOptions, type State, mkdir, mkfile, scratch } from '../../../llb/index.js';
import type { RunInstruction, RunMount as DockerfileMount } from '../instructions/types.js';
import type { PlannedStep } from '../plan.js';
import { displayCommand } from '../progress-name.js';
import { runCommandArgs } from '../run-command.js';
import { type StageState, stateEnv } from '../stage-state.js';
import { goClean, goJoin, isAbs } from './go-path.js';
import {
  type ConvertContext,
  type StageBuild,
  commandDescription,
  locationOf,
  stepName,
} from './stage-build.js';

/** `RUN --mount` of type cache/secret/ssh with uid, gid or mode but no source: a prepared directory. */
function cacheWithOwner(m: DockerfileMount, source: State): State {
  return source.file(mkdir('/cache', m.mode ?? 0o755, { owner: { user: m.uid ?? 0, group: m.gid ?? 0 } }), {
    customName: '[internal] settings cache mount permissions',
  });
}

/** The LLB mounts of a RUN's `--mount` flags, in order, as BuildKit builds them. */
function runMounts(ctx: ConvertContext, build: StageBuild, run: RunInstruction): RunMount[] {
  const out: RunMount[] = [];
  for (const spec of run.mounts) {
    const m = spec.resolved!;
    if (m.type === 'secret') {
      let id = m.source ?? m.id;
      if (id === undefined) {
        if (m.target === undefined) throw new Error('one of source, target required');
        id = posix.basename(m.target);
      }
      const fileOpt = m.uid !== undefined || m.gid !== undefined || m.mode !== undefined;
      out.push({
        type: 'secret',
        dest: m.target ?? `/run/secrets/${posix.basename(id)}`,
        id,
        ...(fileOpt ? { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o400 } : {}),
        optional: !m.required,
      });
      continue;
    }
    if (m.type === 'ssh') {
      if (m.source !== undefined) throw new Error('ssh does not support source');
      const fileOpt = m.uid !== undefined || m.gid !== undefined || m.mode !== undefined;
      out.push({
        type: 'ssh',
        id: m.id ?? '',
        ...(m.target !== undefined ? { dest: m.target } : {}),
        ...(fileOpt ? { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: m.mode ?? 0o600 } : {}),
        optional: !m.required,
      });
      continue;
    }
    const from = m.from ?? (m.type === 'cache' ? 'scratch' : undefined);
    let source = from === undefined ? ctx.buildContext : ctx.sourceState(from, { allowIndex: false });
    let target = m.target ?? '';
    if (!isAbs(goClean(target))) target = goJoin('/', build.state.getDir(), target);
    if (target === '/') throw new Error(`invalid mount target ${JSON.stringify(target)}`);
    if (m.type === 'tmpfs') {
      out.push({ type: 'tmpfs', dest: target, ...(m.sizeLimit ? { size: m.sizeLimit } : {}) });
      continue;
    }
    let selector = goJoin('/', m.source ?? '');
    if (selector === '/') {
      selector = '';
      if (m.uid !== undefined || m.gid !== undefined || m.mode !== undefined) {
        source = cacheWithOwner(m, source);
        selector = '/cache';
      }
    }
    if (m.type === 'cache') {
      const id = m.id ?? goClean(m.target ?? '');
      out.push({
        type: 'cache',
        dest: target,
        id: `${ctx.opts.cacheNamespace ?? ''}/${id}`,
        sharing: m.sharing ?? 'shared',
        source,
        ...(selector ? { selector } : {}),
      });
      continue;
    }
    const noOutput = !m.readOnly && ctx.opts.caps.has('exec.mount.bind.readwrite-nooutput');
    out.push({
      dest: target,
      source,
      ...(selector ? { selector } : {}),
      readonly: m.readOnly,
      ...(noOutput ? { noOutput } : {}),
    });
  }
  return out;
}

/**
 * Converts a RUN into an exec op on the stage's state, with BuildKit's options: the command (a
 * `#!` heredoc becomes a script mounted at /dev/pipes/), description, source location, no-cache,
 * proxy variables, `--mount`s, `--network`, `--security`, ulimits, extra hosts, /dev/shm size and
 * cgroup parent; the step's name as progress shows it.
 */
export function dispatchRun(
  ctx: ConvertContext,
  build: StageBuild,
  step: PlannedStep,
  before: StageState,
): void {
  const run = step.instruction as RunInstruction;
  const { args, script, summary } = runCommandArgs(before.image, run.command);
  const mounts: RunMount[] = [];
  if (script) {
    const file = scratch()
      .dir('/')
      .file(mkfile(script.name, 0o755, script.data), { customName: '[internal] preparing inline document' });
    mounts.push({ dest: '/dev/pipes/', source: file, selector: '/', readonly: true });
  }
  mounts.push(...runMounts(ctx, build, run));
  const caps = ctx.opts.caps;
  const shm = ctx.opts.shmSize ?? 0;
  if (caps.has('exec.mount.tmpfs.size') && shm > 0)
    mounts.push({ type: 'tmpfs', dest: '/dev/shm', size: shm });
  const env = stateEnv(before);
  const shown = displayCommand(run.code + (summary ?? ''), { lexer: ctx.lexer, env, run: true });
  const options: RunOptions = {
    args,
    description: commandDescription(run.code),
    sourceLocations: locationOf(ctx, run.location),
    ...(build.ignoreCache ? { ignoreCache: true } : {}),
    ...(ctx.proxyEnv ? { proxyEnv: ctx.proxyEnv } : {}),
    mounts,
    ...(run.security === 'insecure' ? { security: 'insecure' as const } : {}),
    ...(run.network === 'none' || run.network === 'host' ? { network: run.network } : {}),
    ...(caps.has('exec.meta.ulimit') && ctx.opts.ulimits?.length ? { ulimits: ctx.opts.ulimits } : {}),
    customName: stepName(ctx, build, shown, build.state.getPlatform(), env),
    ...(ctx.opts.extraHosts?.length ? { extraHosts: ctx.opts.extraHosts } : {}),
    ...(caps.has('exec.meta.cgroup.parent') && ctx.opts.cgroupParent
      ? { cgroupParent: ctx.opts.cgroupParent }
      : {}),
  };
  build.state = build.state.run(options).root();
}
