import { CacheSharingOpt } from '../proto/gen/pb/ops_pb.js';
import { LlbBuildError } from './errors.js';
import { ExecVertex, type FsMount, type SecretSpec } from './exec-op.js';
import {
  args as argsModifier,
  type HostIP,
  type NetworkMode,
  type SecurityMode,
  type StateModifier,
  type Ulimit,
} from './meta.js';
import { State } from './state.js';
import { vertexConstraints, type Output, type VertexOptions } from './vertex.js';

/** A mount of `run()`; `dest` is the path inside the container. */
export type RunMount =
  | {
      /** A bind of another state's filesystem; writable (and an output) unless `readonly`. */
      readonly type?: 'bind';
      readonly dest: string;
      readonly source: State;
      readonly selector?: string;
      readonly readonly?: boolean;
      /** Writable but discarded after the run (BuildKit's ForceNoOutput). */
      readonly noOutput?: boolean;
    }
  | {
      /** A persistent cache directory, optionally seeded from `source`. */
      readonly type: 'cache';
      readonly dest: string;
      readonly id: string;
      readonly sharing?: 'shared' | 'private' | 'locked';
      readonly source?: State;
      readonly selector?: string;
    }
  | { readonly type: 'tmpfs'; readonly dest: string; readonly size?: number }
  | {
      /** A secret file from the client's session; `id` defaults to `dest`, mode to 0o400. */
      readonly type: 'secret';
      readonly dest: string;
      readonly id?: string;
      readonly uid?: number;
      readonly gid?: number;
      readonly mode?: number;
      readonly optional?: boolean;
    }
  | {
      /** An SSH agent socket; `dest` defaults to `/run/buildkit/ssh_agent.<n>`, mode to 0o600. */
      readonly type: 'ssh';
      readonly dest?: string;
      readonly id?: string;
      readonly uid?: number;
      readonly gid?: number;
      readonly mode?: number;
      readonly optional?: boolean;
    };

export interface ProxyEnv {
  readonly httpProxy?: string;
  readonly httpsProxy?: string;
  readonly ftpProxy?: string;
  readonly noProxy?: string;
  readonly allProxy?: string;
}

/**
 * Options of `state.run()`. The state-like ones (env, cwd, user, …) apply to this process only,
 * after `with` and in the order listed here; the resulting state keeps the original metadata.
 */
export interface RunOptions extends VertexOptions {
  readonly args?: readonly string[];
  /** Shorthand for `args: ['/bin/sh', '-c', shell]`. */
  readonly shell?: string;
  readonly with?: readonly StateModifier[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly network?: NetworkMode;
  readonly security?: SecurityMode;
  readonly extraHosts?: readonly HostIP[];
  readonly ulimits?: readonly Ulimit[];
  readonly cgroupParent?: string;
  readonly mounts?: readonly RunMount[];
  /** Secrets exposed as environment variables (`name`); `id` defaults to `name`. */
  readonly secretEnv?: readonly {
    readonly name: string;
    readonly id?: string;
    readonly optional?: boolean;
  }[];
  readonly readonlyRootfs?: boolean;
  readonly proxyEnv?: ProxyEnv;
  /** Exit codes counted as success (default: 0 only). Needs cap `exec.validexitcode`. */
  readonly validExitCodes?: readonly number[];
}

const sharingValues = {
  shared: CacheSharingOpt.SHARED,
  private: CacheSharingOpt.PRIVATE,
  locked: CacheSharingOpt.LOCKED,
} as const;

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The result of `state.run()`: the root filesystem after the run and the other mounts' outputs. */
export class ExecState {
  constructor(
    private readonly rootState: State,
    private readonly mountOutputs: ReadonlyMap<string, Output | undefined>,
  ) {}

  /** The state after the run: the root mount's output with the original state's metadata. */
  root(): State {
    return this.rootState;
  }

  /**
   * The output of the mount at `dest` as a new state (a read-only bind yields its source). Reading
   * a tmpfs, cache or no-output mount fails when the graph is marshalled; an unknown `dest` throws.
   */
  getMount(dest: string): State {
    if (!this.mountOutputs.has(dest)) {
      throw new LlbBuildError({ message: `run has no filesystem mount at ${JSON.stringify(dest)}` });
    }
    return State.fromOutput(this.mountOutputs.get(dest));
  }
}
function processState(state: State, o: RunOptions): State {
  let s = state.with(...(o.with ?? []));
  for (const [k, v] of Object.entries(o.env ?? {})) s = s.addEnv(k, v);
  if (o.cwd !== undefined) s = s.dir(o.cwd);
  if (o.user !== undefined) s = s.user(o.user);
  if (o.hostname !== undefined) s = s.hostname(o.hostname);
  if (o.network !== undefined) s = s.network(o.network);
  if (o.security !== undefined) s = s.security(o.security);
  for (const h of o.extraHosts ?? []) s = s.extraHost(h.host, h.ip);
  for (const u of o.ulimits ?? []) s = s.ulimit(u.name, u.soft, u.hard);
  if (o.cgroupParent !== undefined) s = s.cgroupParent(o.cgroupParent);
  if (o.shell !== undefined) s = argsModifier(['/bin/sh', '-c', o.shell])(s);
  if (o.args !== undefined) s = argsModifier(o.args)(s);
  return s;
}

/** `state.run(options)`: see RunOptions. Errors (no args, no cwd) surface at marshal. */
export function runExec(state: State, options: RunOptions): ExecState {
  const fs: FsMount[] = [
    {
      dest: '/',
      source: state.output,
      readonly: options.readonlyRootfs === true,
      selector: '',
      cacheId: '',
      sharing: CacheSharingOpt.SHARED,
      tmpfs: false,
      tmpfsSize: 0,
      noOutput: false,
    },
  ];
  const secrets: SecretSpec[] = [];
  const ssh: SecretSpec[] = [];
  for (const m of options.mounts ?? []) {
    if (m.type === 'secret') {
      secrets.push({
        id: m.id ?? m.dest,
        target: m.dest,
        uid: m.uid ?? 0,
        gid: m.gid ?? 0,
        mode: m.mode ?? 0o400,
        optional: m.optional === true,
      });
    } else if (m.type === 'ssh') {
      ssh.push({
        id: m.id ?? '',
        target: m.dest ?? `/run/buildkit/ssh_agent.${ssh.length}`,
        uid: m.uid ?? 0,
        gid: m.gid ?? 0,
        mode: m.mode ?? 0o600,
        optional: m.optional === true,
      });
    } else {
      fs.push({
        dest: m.dest,
        source: m.type === 'tmpfs' ? undefined : m.source?.output,
        readonly: m.type === undefined || m.type === 'bind' ? m.readonly === true : false,
        selector: m.type === 'tmpfs' ? '' : (m.selector ?? ''),
        cacheId: m.type === 'cache' ? m.id : '',
        sharing: m.type === 'cache' ? sharingValues[m.sharing ?? 'shared'] : CacheSharingOpt.SHARED,
        tmpfs: m.type === 'tmpfs',
        tmpfsSize: m.type === 'tmpfs' ? (m.size ?? 0) : 0,
        noOutput: (m.type === undefined || m.type === 'bind') && m.noOutput === true,
      });
    }
  }
  fs.sort((a, b) => byteCompare(a.dest, b.dest));
  const secretEnv = (options.secretEnv ?? []).map((s) => ({
    name: s.name,
    id: s.id ?? s.name,
    optional: s.optional === true,
  }));
  const vertex = new ExecVertex({
    base: processState(state, options),
    mounts: fs,
    secrets,
    secretEnv,
    ssh,
    options,
    constraints: vertexConstraints(options),
  });
  const byDest = new Map<string, Output | undefined>();
  let root: Output | undefined;
  for (const [m, out] of vertex.outputs) {
    if (m.dest === '/') root = out;
    byDest.set(m.dest, out);
  }
  return new ExecState(state.withOutput(root), byDest);
}
