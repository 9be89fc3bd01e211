import { posix } from 'node:path';
import { ConfigValueError, checkSignal, parsePortSpecs } from './config-values.js';
import { DockerfileError, atLines } from './errors.js';
import { goFormatList, goQuoteList } from './go-text.js';
import {
  epochTime,
  exposeHistory,
  healthcheckHistory,
  historyEntry,
  runHistory,
  withShell,
} from './image-config.js';
import { expandInstruction } from './instructions/expand.js';
import type { ArgDefinition, Instruction, LineRange, RunInstruction } from './instructions/types.js';
import { runCommandArgs } from './run-command.js';
import {
  type Draft,
  type StageContext,
  type StageState,
  addImageEnv,
  addStateEnv,
  draftOf,
  imageWorkdir,
  joinDir,
  nonEnvArgs,
  stateEnv,
} from './stage-state.js';

function commit(ctx: StageContext, d: Draft, createdBy: string, layer: boolean, buildkitStep = false): void {
  const entry = historyEntry(
    buildkitStep ? `${createdBy} # buildkit` : createdBy,
    !layer,
    ctx.epoch === undefined ? undefined : epochTime(ctx.epoch),
  );
  d.image.history = [...(d.image.history ?? []), entry];
}

/**
 * Expands an instruction with the state's environment and applies it: the updated state and the
 * expanded instruction (phase 2 builds the LLB step from it). Throws DockerfileError at the
 * instruction's lines.
 */
export function dispatchInstruction(
  ctx: StageContext,
  state: StageState,
  instruction: Instruction,
): { state: StageState; instruction: Instruction } {
  const expanded = expandInstruction(instruction, { lexer: ctx.lexer, env: stateEnv(state) });
  return { state: applyInstruction(ctx, state, expanded), instruction: expanded };
}

/**
 * Applies an already expanded instruction to the image config, the build state and the history,
 * exactly as BuildKit v0.11.6 records them (e.g. `RUN |1 A=b /bin/sh -c make # buildkit`,
 * `ENV A=b`, `COPY a b /dst # buildkit`, `WORKDIR /app`, `CMD ["sh"]`). ONBUILD adds no history.
 */
export function applyInstruction(ctx: StageContext, state: StageState, instruction: Instruction): StageState {
  const d = draftOf(state);
  const cfg = d.image.config;
  const i = instruction;
  try {
    switch (i.kind) {
      case 'env':
        for (const { key, value } of i.pairs) {
          d.env = addStateEnv(d.env, key, value);
          cfg.Env = addImageEnv(cfg.Env ?? [], key, value);
        }
        commit(ctx, d, `ENV${i.pairs.map((p) => ` ${p.key}=${p.value}`).join('')}`, false);
        break;
      case 'label':
        cfg.Labels = { ...cfg.Labels };
        for (const { key, value } of i.pairs) cfg.Labels[key] = value;
        commit(ctx, d, `LABEL${i.pairs.map((p) => ` ${p.key}=${p.value}`).join('')}`, false);
        break;
      case 'maintainer':
        d.image.author = i.maintainer;
        commit(ctx, d, `MAINTAINER ${i.maintainer}`, false);
        break;
      case 'onbuild':
        cfg.OnBuild = [...(cfg.OnBuild ?? []), i.expression];
        break;
      case 'workdir': {
        d.workdir = joinDir(d.workdir, i.path);
        const wd = imageWorkdir(cfg.WorkingDir, i.path);
        cfg.WorkingDir = wd;
        commit(ctx, d, `WORKDIR ${wd}`, wd !== '/');
        break;
      }
      case 'user':
        d.user = i.user;
        cfg.User = i.user;
        commit(ctx, d, `USER ${i.user}`, false);
        break;
      case 'run':
        applyRun(ctx, d, i);
        break;
      case 'add':
      case 'copy': {
        const words = [...i.sources, ...i.contents.map((c) => `<<${c.path}`), i.dest];
        commit(ctx, d, `${i.kind.toUpperCase()} ${words.join(' ')}`, true, true);
        break;
      }
      case 'cmd': {
        const args = i.command.prependShell ? withShell(d.image, i.command.args) : [...i.command.args];
        cfg.Cmd = args;
        cfg.ArgsEscaped = true;
        d.cmdSet = true;
        commit(ctx, d, `CMD ${goQuoteList(args)}`, false);
        break;
      }
      case 'entrypoint': {
        const args = i.command.prependShell ? withShell(d.image, i.command.args) : [...i.command.args];
        cfg.Entrypoint = args;
        if (!d.cmdSet) delete cfg.Cmd;
        commit(ctx, d, `ENTRYPOINT ${goQuoteList(args)}`, false);
        break;
      }
      case 'healthcheck': {
        const h = i.health;
        cfg.Healthcheck = {
          Test: [...h.test],
          Interval: h.interval,
          Timeout: h.timeout,
          StartPeriod: h.startPeriod,
          ...(h.startInterval ? { StartInterval: h.startInterval } : {}),
          Retries: h.retries,
        };
        commit(ctx, d, healthcheckHistory(cfg.Healthcheck), false);
        break;
      }
      case 'expose': {
        const ports = parsePortSpecs(i.ports);
        cfg.ExposedPorts = { ...cfg.ExposedPorts };
        for (const p of ports) cfg.ExposedPorts[p] = {};
        commit(ctx, d, exposeHistory(ports), false);
        break;
      }
      case 'volume':
        cfg.Volumes = { ...cfg.Volumes };
        for (const v of i.volumes) {
          if (v === '') throw new ConfigValueError('VOLUME specified can not be an empty string');
          cfg.Volumes[v] = {};
        }
        commit(ctx, d, `VOLUME ${goFormatList(i.volumes)}`, false);
        break;
      case 'stopsignal':
        checkSignal(i.signal);
        cfg.StopSignal = i.signal;
        commit(ctx, d, `STOPSIGNAL ${i.signal}`, false);
        break;
      case 'shell':
        cfg.Shell = [...i.shell];
        commit(ctx, d, `SHELL ${goFormatList(i.shell)}`, false);
        break;
      case 'arg':
        applyArg(ctx, d, i.args, i.location);
        commit(
          ctx,
          d,
          `ARG ${i.args.map((a) => (a.value === undefined ? a.key : `${a.key}=${a.value}`)).join(' ')}`,
          false,
        );
        break;
    }
  } catch (err) {
    throw atLines(err, i.location);
  }
  return d;
}

function applyArg(ctx: StageContext, d: Draft, args: readonly ArgDefinition[], location: LineRange): void {
  for (const definition of args) {
    const override = ctx.buildArgs.get(definition.key);
    let value = override ?? definition.value;
    let inherited = false;
    if (value === undefined) {
      for (const meta of ctx.metaArgs) {
        if (meta.key === definition.key) {
          value = meta.value;
          inherited = true;
        }
      }
    }
    if (value !== undefined && !nonEnvArgs.has(definition.key))
      d.env = addStateEnv(d.env, definition.key, value);
    if (!inherited)
      d.outline.args.set(definition.key, { definition, value: value ?? '', location, deps: new Set() });
    d.outline.usedArgs.add(definition.key);
    d.buildArgs.push(value === undefined ? { key: definition.key } : { key: definition.key, value });
  }
}

function applyRun(ctx: StageContext, d: Draft, run: RunInstruction): void {
  for (const spec of run.mounts) {
    const m = spec.resolved;
    if (!m)
      throw new DockerfileError({
        reason: 'RUN mounts must be expanded before they are applied',
        startLine: run.location.start,
      });
    if (m.type === 'secret') {
      let id = m.source ?? m.id;
      if (id === undefined) {
        if (m.target === undefined) throw new ConfigValueError('one of source, target required');
        id = posix.basename(m.target);
      }
      if (!d.outline.secrets.has(id))
        d.outline.secrets.set(id, { required: m.required, location: run.location });
    } else if (m.type === 'ssh') {
      if (m.source !== undefined) throw new ConfigValueError('ssh does not support source');
      const id = m.id ?? 'default';
      if (!d.outline.ssh.has(id)) d.outline.ssh.set(id, { required: m.required, location: run.location });
    }
  }
  const { args } = runCommandArgs(d.image, run.command);
  commit(ctx, d, runHistory(args, d.buildArgs, stateEnv(d)), true, true);
}
