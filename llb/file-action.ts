import type { State } from './state.js';

/**
 * Owner of created files: `"user[:group]"` parsed as BuildKit's WithUser does (numbers and `root`
 * become IDs, anything else a name resolved in the target's /etc/passwd and /etc/group), or
 * explicit parts where numbers are IDs and strings names.
 */
export type Owner = string | { readonly user?: number | string; readonly group?: number | string };

/** A creation time: a Date, or Unix nanoseconds. Unset keeps BuildKit's default (-1: now). */
export type Timestamp = Date | bigint;

export interface MkdirOptions {
  readonly makeParents?: boolean;
  readonly owner?: Owner;
  readonly createdTime?: Timestamp;
}
export interface MkfileOptions {
  readonly owner?: Owner;
  readonly createdTime?: Timestamp;
}
export interface RmOptions {
  readonly allowNotFound?: boolean;
  readonly allowWildcard?: boolean;
}
export interface SymlinkOptions {
  readonly owner?: Owner;
  readonly createdTime?: Timestamp;
}
export interface CopyOptions {
  /** Permission bits to set, or (cap `file.copy.modestring`) a chmod-style string such as `u+x`. */
  readonly mode?: number | string;
  readonly followSymlinks?: boolean;
  readonly copyDirContentsOnly?: boolean;
  readonly includePatterns?: readonly string[];
  readonly excludePatterns?: readonly string[];
  readonly attemptUnpack?: boolean;
  readonly createDestPath?: boolean;
  readonly allowWildcard?: boolean;
  readonly allowEmptyWildcard?: boolean;
  readonly owner?: Owner;
  readonly createdTime?: Timestamp;
  /** Cap `file.copy.alwaysreplaceexistingdestpaths`. */
  readonly alwaysReplaceExistingDestPaths?: boolean;
}

export type ActionSpec =
  | ({ readonly kind: 'mkdir'; readonly path: string; readonly mode: number } & MkdirOptions)
  | ({
      readonly kind: 'mkfile';
      readonly path: string;
      readonly mode: number;
      readonly data: Uint8Array;
    } & MkfileOptions)
  | ({ readonly kind: 'rm'; readonly path: string } & RmOptions)
  | ({
      readonly kind: 'copy';
      readonly from: CopySource;
      readonly src: string;
      readonly dest: string;
    } & CopyOptions)
  | ({ readonly kind: 'symlink'; readonly oldpath: string; readonly newpath: string } & SymlinkOptions);

/** Where a copy reads from: a state, or the result of file actions run on another state. */
export type CopySource = State | BoundFileAction;

/** File actions bound to a state, usable as a copy source (BuildKit's `FileAction.WithState`). */
export class BoundFileAction {
  /** @param action an action chain already bound to its state */
  constructor(readonly action: FileAction) {}
}

/**
 * An immutable chain of file actions: each action applies to the result of the previous one
 * (the first to the state the chain is given to). Relative paths resolve against that state's
 * working directory.
 */
export class FileAction {
  private constructor(
    readonly spec: ActionSpec,
    readonly prev: FileAction | undefined,
    readonly state: State | undefined,
  ) {}

  /** @internal a chain of one action */
  static of(spec: ActionSpec): FileAction {
    return new FileAction(spec, undefined, undefined);
  }

  mkdir(path: string, mode: number, options: MkdirOptions = {}): FileAction {
    return new FileAction({ ...options, kind: 'mkdir', path, mode }, this, undefined);
  }
  mkfile(path: string, mode: number, data: Uint8Array | string, options: MkfileOptions = {}): FileAction {
    return new FileAction({ ...options, kind: 'mkfile', path, mode, data: bytesOf(data) }, this, undefined);
  }
  rm(path: string, options: RmOptions = {}): FileAction {
    return new FileAction({ ...options, kind: 'rm', path }, this, undefined);
  }
  copy(from: CopySource, src: string, dest: string, options: CopyOptions = {}): FileAction {
    return new FileAction({ ...options, kind: 'copy', from, src, dest }, this, undefined);
  }
  /** Cap `file.symlink.create`. Paths are written as given. */
  symlink(oldpath: string, newpath: string, options: SymlinkOptions = {}): FileAction {
    return new FileAction({ ...options, kind: 'symlink', oldpath, newpath }, this, undefined);
  }

  /** This chain run on `state`, as a copy source for another file op. */
  withState(state: State): BoundFileAction {
    return new BoundFileAction(this.bind(state));
  }

  /** @internal a copy of the chain with every action bound to `state` */
  bind(state: State): FileAction {
    const chain: FileAction[] = [this];
    for (let a = this.prev; a; a = a.prev) chain.push(a);
    let bound: FileAction | undefined;
    for (let i = chain.length - 1; i >= 0; i--) bound = new FileAction(chain[i]!.spec, bound, state);
    return bound!;
  }
}

function bytesOf(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

export function mkdir(path: string, mode: number, options: MkdirOptions = {}): FileAction {
  return FileAction.of({ ...options, kind: 'mkdir', path, mode });
}
export function mkfile(
  path: string,
  mode: number,
  data: Uint8Array | string,
  options: MkfileOptions = {},
): FileAction {
  return FileAction.of({ ...options, kind: 'mkfile', path, mode, data: bytesOf(data) });
}
export function rm(path: string, options: RmOptions = {}): FileAction {
  return FileAction.of({ ...options, kind: 'rm', path });
}
export function copy(from: CopySource, src: string, dest: string, options: CopyOptions = {}): FileAction {
  return FileAction.of({ ...options, kind: 'copy', from, src, dest });
}
export function symlink(oldpath: string, newpath: string, options: SymlinkOptions = {}): FileAction {
  return FileAction.of({ ...options, kind: 'symlink', oldpath, newpath });
}
