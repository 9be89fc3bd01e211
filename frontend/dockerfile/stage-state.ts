import { posix } from 'node:path';
import type { ContainerConfig, ImageConfig, Platform } from '../../oci/index.js';
import type { ArgInfo, ArgValue } from './build-args.js';
import { baseImageConfig, defaultPathEnv, emptyImageConfig } from './image-config.js';
import type { LineRange } from './instructions/types.js';
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
export const nonEnvArgs = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

export type Draft = {
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

export function draftOf(state: StageState): Draft {
  // The history is shared, not cloned: entries are never changed and commits append to a copy,
  // so a draft costs the size of the config, not of the history (a clone per instruction made
  // long Dockerfiles quadratic; 20,000 LABELs took the daemon past its heap).
  const { history, ...config } = state.image;
  const image = {
    ...structuredClone(config),
    ...(history === undefined ? {} : { history }),
  } as Draft['image'];
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

export const keyOf = (entry: string): string => {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
};

/** LLB's AddEnv: the key moves to the end. */
export function addStateEnv(env: string[], key: string, value: string): string[] {
  return [...env.filter((e) => keyOf(e) !== key), `${key}=${value}`];
}

/** The image's addEnv: replaced in place, appended when new. */
export function addImageEnv(env: readonly string[], key: string, value: string): string[] {
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

export function joinDir(prev: string | undefined, path: string): string {
  return posix.isAbsolute(path) ? path : posix.join(prev || '/', path);
}

export function imageWorkdir(prev: string | undefined, path: string): string {
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
          // An image source starts in `/` (LLB's NewState); scratch has no directory until WORKDIR.
          ...(base.kind === 'image' ? { workdir: '/' } : {}),
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
