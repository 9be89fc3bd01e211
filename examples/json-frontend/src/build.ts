import { copy, image, local, mkdir, type State } from '../../../llb/index.js';
import type { BuildSpec } from './spec.js';

/** What `toLlb` needs besides the spec. */
export interface BuildInputs {
  /** The base image pinned by digest (as resolveImageConfig answers it). */
  readonly baseRef: string;
  /** The base image's config (its env, working directory and platform carry over). */
  readonly baseConfig: ImageConfig;
  readonly sessionId: string;
}

/** The parts of an OCI image config this frontend reads and writes. */
export interface ImageConfig {
  readonly architecture?: string;
  readonly os?: string;
  readonly variant?: string;
  readonly config?: {
    readonly Env?: readonly string[];
    readonly Cmd?: readonly string[];
    readonly WorkingDir?: string;
    readonly Labels?: Readonly<Record<string, string>>;
  };
  readonly [key: string]: unknown;
}

/**
 * The spec as LLB: the base image, then the working directory, the files, the copies from the
 * `context` local and the steps, each one op on the previous state.
 */
export function toLlb(spec: BuildSpec, inputs: BuildInputs): State {
  let state = image(inputs.baseRef, { imageConfig: inputs.baseConfig });
  for (const [key, value] of Object.entries(spec.env)) state = state.addEnv(key, value);
  if (spec.workdir) state = state.dir(spec.workdir).file(mkdir(spec.workdir, 0o755, { makeParents: true }));
  for (const file of spec.files) {
    const parent = file.path.slice(0, file.path.lastIndexOf('/')) || '/';
    state = state.file(
      mkdir(parent, 0o755, { makeParents: true }).mkfile(file.path, file.mode, file.content),
    );
  }
  if (spec.copy.length > 0) {
    const context = local('context', { sessionId: inputs.sessionId, sharedKeyHint: 'context' });
    for (const c of spec.copy) {
      state = state.file(
        copy(context, c.from, c.to, { createDestPath: true, allowWildcard: true, copyDirContentsOnly: true }),
      );
    }
  }
  for (const step of spec.steps) state = state.run({ shell: step }).root();
  return state;
}

/** The image config of the result: the base's, with the spec's env, working dir, cmd and labels. */
export function imageConfig(spec: BuildSpec, state: State, base: ImageConfig): ImageConfig {
  return {
    ...base,
    config: {
      ...base.config,
      Env: state.getEnvList().map(([k, v]) => `${k}=${v}`),
      ...(spec.workdir ? { WorkingDir: spec.workdir } : {}),
      ...(spec.cmd ? { Cmd: spec.cmd } : {}),
      Labels: { ...base.config?.Labels, ...spec.labels },
    },
  };
}
