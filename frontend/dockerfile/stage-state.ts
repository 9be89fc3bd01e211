import { posix } from 'node:path';
import type { ContainerConfig, ImageConfig, Platform } from '../../oci/index.js';
import { type ArgInfo, type ArgValue } from './build-args.js';
import { ConfigValueError, checkSignal, parsePortSpecs } from './config-values.js';
import { DockerfileError, atLines } from './errors.js';
import { goFormatList, goQuoteList } from './go-text.js';
import {
  baseImageConfig,
  defaultPathEnv,
  emptyImageConfig,
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
import type { ShellLexer } from './shell-lexer.js';

/** Settings shared by every stage of one build (one target platform). */
export interface StageContext {
  /** Lexer with the Dockerfile's escape token. */
  readonly lexer: ShellLexer;
  /** The global ARG scope (platform ARGs, then meta ARGs) stage ARGs inherit values from. */
  readonly metaArgs: readonly ArgValue[];
  /** Outline information of the meta ARGs. */
  readonly metaArgInfos: ReadonlyMap<string, ArgInfo>;
  /** `build-arg:K=V` options. */
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly targetPlatform: Platform;
  /** SOURCE_DATE_EPOCH in seconds: history entries get it as `created`. */
  readonly epoch?: number;
}

/** What a stage contributes to `frontend.outline`. */
export interface OutlineCapture {
  readonly args: ReadonlyMap<string, ArgInfo>;
  readonly usedArgs: ReadonlySet<string>;
  readonly secrets: ReadonlyMap<string, { readonly required: boolean; readonly location: LineRange }>;
  readonly ssh: ReadonlyMap<string, { readonly required: boolean; readonly location: LineRange }>;
}

/**
 * The state of a stage between instructions: the image config (with history) it would produce,
 * plus what later instructions see. Immutable; every step returns a new value.
 */
export interface StageState {
  readonly image: ImageConfig;
  /** The build environment in LLB order (`K=V`): image ENV, then ENV and ARG values as set. */
  readonly env: readonly string[];
  /** The working directory RUN and relative paths use (LLB's `Dir`); undefined until set. */
  readonly workdir?: string;
  readonly user?: string;
  readonly platform: Platform;
  /** ARGs declared in this stage, with the values RUN history shows. */
  readonly buildArgs: readonly ArgValue[];
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  readonly cmdSet: boolean;
  readonly outline: OutlineCapture;
}

/** What a stage starts from. */
export type StageBase =
  | { readonly kind: 'scratch' }
  | { readonly kind: 'image'; readonly config: ImageConfig }
  | { readonly kind: 'stage'; readonly state: StageState };

/** Arguments that configure BuildKit itself and never become environment variables. */
const nonEnvArgs = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

type Draft = {
  image: ImageConfig & { config: ContainerConfig };
  env: string[];
  workdir?: string;
  user?: string;
  platform: Platform;
  buildArgs: ArgValue[];
  cmdSet: boolean;
  outline: {
    args: Map<string, ArgInfo>;
    usedArgs: Set<string>;
    secrets: Map<string, { required: boolean; location: LineRange }>;
    ssh: Map<string, { required: boolean; location: LineRange }>;
  };
};

function draftOf(state: StageState): Draft {
  const image = structuredClone(state.image) as Draft['image'];
  image.config ??= {};
  return {
    ...state,
    image,
    env: [...state.env],
    buildArgs: [...state.buildArgs],
    outline: {
      args: new Map(state.outline.args),
      usedArgs: new Set(state.outline.usedArgs),
      secrets: new Map(state.outline.secrets),
      ssh: new Map(state.outline.ssh),
    },
  };
}

const keyOf = (entry: string): string => {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
};

/** LLB's AddEnv: the key moves to the end. */
function addStateEnv(env: string[], key: string, value: string): string[] {
  return [...env.filter((e) => keyOf(e) !== key), `${key}=${value}`];
}

/** The image's addEnv: replaced in place, appended when new. */
function addImageEnv(env: readonly string[], key: string, value: string): string[] {
  const i = env.findIndex((e) => keyOf(e) === key);
  if (i < 0) return [...env, `${key}=${value}`];
  return env.map((e, j) => (j === i ? `${key}=${value}` : e));
}

/** The expansion environment of a state, as a map. */
export function stateEnv(state: Pick<StageState, 'env'>): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of state.env) {
    const eq = e.indexOf('=');
    env.set(eq < 0 ? e : e.slice(0, eq), eq < 0 ? '' : e.slice(eq + 1));
  }
  return env;
}

function joinDir(prev: string | undefined, path: string): string {
  return posix.isAbsolute(path) ? path : posix.join(prev || '/', path);
}

function imageWorkdir(prev: string | undefined, path: string): string {
  return posix.isAbsolute(path) ? path : posix.join('/', prev ?? '', path);
}

/**
 * Sets up a stage from its base the way BuildKit does before the first instruction: a stage base
 * hands over its whole state (including the environment its ARGs set); an image contributes its
 * config (unknown fields dropped, `created` cleared); scratch is the empty image of the target
 * platform. PATH is added when missing, the image ENV, WORKDIR and USER become the build state,
 * and the base's ONBUILD triggers are returned for the caller to dispatch first (the image keeps
 * none). `usedArgs` are the meta ARGs the FROM line used.
 */
export function startStage(
  ctx: StageContext,
  opts: { base: StageBase; platform: Platform; usedArgs?: Iterable<string> },
): { state: StageState; onbuild: readonly string[] } {
  const fresh = {
    buildArgs: [],
    cmdSet: false,
    outline: {
      args: new Map(ctx.metaArgInfos),
      usedArgs: new Set(opts.usedArgs),
      secrets: new Map(),
      ssh: new Map(),
    },
  };
  const base = opts.base;
  const from: StageState =
    base.kind === 'stage'
      ? { ...base.state, ...fresh }
      : {
          image: base.kind === 'image' ? baseImageConfig(base.config) : emptyImageConfig(ctx.targetPlatform),
          env: [],
          platform: opts.platform,
          ...fresh,
        };
  const d = draftOf(from);
  const cfg = d.image.config;
  if (!(cfg.Env ?? []).some((e) => keyOf(e) === 'PATH')) {
    cfg.Env = [...(cfg.Env ?? []), `PATH=${defaultPathEnv(d.platform.os)}`];
  }
  for (const e of cfg.Env ?? []) {
    const eq = e.indexOf('=');
    d.env = addStateEnv(d.env, keyOf(e), eq < 0 ? '' : e.slice(eq + 1));
  }
  if (cfg.WorkingDir) {
    // As a WORKDIR without history: a relative base WorkingDir is joined onto itself, like BuildKit.
    d.workdir = joinDir(d.workdir, cfg.WorkingDir);
    cfg.WorkingDir = imageWorkdir(cfg.WorkingDir, cfg.WorkingDir);
  }
  if (cfg.User) d.user = cfg.User;
  const onbuild = [...(cfg.OnBuild ?? [])];
  delete cfg.OnBuild;
  return { state: d, onbuild };
}

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
