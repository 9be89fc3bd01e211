import type { Platform } from '../oci/index.js';
import { runExec, type ExecState, type RunOptions } from './run.js';
import type { FileAction } from './file-action.js';
import { fileOp } from './file-op.js';
import {
  addEnv,
  cgroupParent,
  dir,
  envGet,
  extraHost,
  hostname,
  metaKeys,
  network,
  platform,
  security,
  ulimit,
  user,
  type EnvList,
  type MetaKey,
  type NetworkMode,
  type SecurityMode,
  type StateModifier,
  type UlimitName,
} from './meta.js';
import type { Output, VertexOptions } from './vertex.js';

interface MetaNode {
  readonly key: MetaKey<unknown>;
  readonly get: () => unknown;
  readonly prev: MetaNode | undefined;
}

/** The parts of an OCI image config a state takes over (BuildKit's WithImageConfig). */
export interface ImageConfigLike {
  readonly os?: string;
  readonly architecture?: string;
  readonly variant?: string;
  readonly config?: { readonly Env?: readonly string[]; readonly WorkingDir?: string };
}

/**
 * A point in an LLB graph: an output of some op (none for scratch) plus metadata (dir, env, user,
 * platform, network, …) that later ops read. A State is a value: every method returns a new State
 * linked to this one, so branches share prefixes safely. Metadata entries are lazy and computed
 * once, when first read (typically by `marshal()`); nothing is validated before marshal.
 */
export class State {
  private constructor(
    private readonly out: Output | undefined,
    private readonly meta: MetaNode | undefined,
  ) {}

  /**
   * A new state over an op output, with dir `/` and the output's platform (BuildKit's NewState).
   * Meant for op implementations; users start from `image()`, `local()`, `scratch()`, ….
   */
  static fromOutput(output: Output | undefined): State {
    const s = dir('/')(new State(output, undefined));
    return output?.platform ? platform(output.platform)(s) : s;
  }

  /** The op output this state stands for; undefined for scratch. */
  get output(): Output | undefined {
    return this.out;
  }

  isScratch(): boolean {
    return this.out === undefined;
  }

  /** This state's metadata over another output (and that output's platform, if it has one). */
  withOutput(output: Output | undefined): State {
    const s = new State(output, this.meta);
    return output?.platform ? platform(output.platform)(s) : s;
  }

  /** Adds a lazy metadata entry; `compute` gets this state (the one before the entry). */
  withMeta<T>(key: MetaKey<T>, compute: (prev: State) => T): State {
    let done = false;
    let value: T | undefined;
    const get = (): T => {
      if (!done) {
        value = compute(this);
        done = true;
      }
      return value as T;
    };
    return new State(this.out, { key, get, prev: this.meta });
  }

  /** The newest value stored under `key`, or the key's fallback. */
  value<T>(key: MetaKey<T>): T {
    for (let node = this.meta; node; node = node.prev) {
      if (node.key === key) return node.get() as T;
    }
    return key.fallback;
  }

  /** Applies modifiers in order. */
  with(...modifiers: StateModifier[]): State {
    return modifiers.reduce<State>((s, m) => m(s), this);
  }

  /** This output with `other`'s metadata (BuildKit's Reset): dir `/` unless the output pins a platform. */
  reset(other: State): State {
    const s = new State(this.out, other.meta);
    return this.out?.platform ? platform(this.out.platform)(s) : dir('/')(s);
  }

  dir(path: string): State {
    return dir(path)(this);
  }
  addEnv(key: string, value: string): State {
    return addEnv(key, value)(this);
  }
  user(name: string): State {
    return user(name)(this);
  }
  hostname(name: string): State {
    return hostname(name)(this);
  }
  platform(p: Platform): State {
    return platform(p)(this);
  }
  network(mode: NetworkMode): State {
    return network(mode)(this);
  }
  security(mode: SecurityMode): State {
    return security(mode)(this);
  }
  extraHost(host: string, ip: string): State {
    return extraHost(host, ip)(this);
  }
  ulimit(name: UlimitName, soft: number, hard: number): State {
    return ulimit(name, soft, hard)(this);
  }
  cgroupParent(path: string): State {
    return cgroupParent(path)(this);
  }

  getDir(): string {
    return this.value(metaKeys.dir);
  }
  getEnv(key: string): string | undefined {
    return envGet(this.value(metaKeys.env), key);
  }
  getEnvList(): EnvList {
    return this.value(metaKeys.env);
  }
  getUser(): string {
    return this.value(metaKeys.user);
  }
  getHostname(): string {
    return this.value(metaKeys.hostname);
  }
  getPlatform(): Platform | undefined {
    return this.value(metaKeys.platform);
  }
  getNetwork(): NetworkMode {
    return this.value(metaKeys.network);
  }
  getSecurity(): SecurityMode {
    return this.value(metaKeys.security);
  }

  /** Env, working dir and platform of an image config, as the Go client applies them. */
  withImageConfig(image: ImageConfigLike): State {
    const env = (image.config?.Env ?? []).flatMap((entry) => {
      const eq = entry.indexOf('=');
      const key = eq < 0 ? entry : entry.slice(0, eq);
      return key.length > 0 ? [addEnv(key, eq < 0 ? '' : entry.slice(eq + 1))] : [];
    });
    const s = this.with(...env, dir(image.config?.WorkingDir ?? ''));
    if (image.architecture && image.os) {
      return s.platform({
        os: image.os,
        architecture: image.architecture,
        ...(image.variant ? { variant: image.variant } : {}),
      });
    }
    return s;
  }

  /** A process run on this state's filesystem; see RunOptions. */
  run(options: RunOptions): ExecState {
    return runExec(this, options);
  }

  /** File operations (mkdir, mkfile, rm, copy, symlink) applied to this state's filesystem. */
  file(action: FileAction, options: VertexOptions = {}): State {
    return fileOp(this, action, options);
  }
}
