import { create, toBinary } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { sha256, type Platform } from '../../oci/index.js';
import {
  FileOpSchema,
  type FileAction,
  type FileActionCopy,
  type FileOp,
} from '../../proto/gen/pb/ops_pb.js';
import type { LocalSnapshotter, Mount } from '../../snapshotter/index.js';
import {
  applyFileAction,
  fileOpSelectors,
  ownerInputs,
  prepareUpperForCopy,
  readUserDatabase,
} from '../file/index.js';
import { newId } from '../job.js';
import type { LlbOpView } from '../llb-view.js';
import type { CacheMap, OpContext, ResultRef, SolverOp } from '../op.js';

export interface FileOpDeps {
  readonly snapshotter: LocalSnapshotter;
  readonly logger?: Logger;
}

/** A tree an action reads or writes: a directory on the host, and how to release it. */
interface Tree {
  readonly dir: string;
  /** The active snapshot behind a writable tree. */
  readonly key?: string;
  release(): Promise<void>;
}

/**
 * FileOp: a chain of file actions, each on its base (an input, an earlier action's result, or
 * scratch), copying from its secondary. Each action's tree is an active snapshot; a result used
 * by exactly one later action is changed in place, otherwise it is committed and branched.
 */
export class FileOpImpl implements SolverOp {
  readonly outputs = 1;
  readonly recordType = 'regular';
  readonly #file: FileOp;

  constructor(
    private readonly view: LlbOpView,
    private readonly platform: Platform,
    private readonly deps: FileOpDeps,
  ) {
    if (view.op.op.case !== 'file') throw new Error('not a file op');
    this.#file = view.op.op.value;
  }

  async cacheMap(): Promise<CacheMap> {
    const n = this.view.op.inputs.length;
    const selectors = fileOpSelectors(this.#file, n);
    const platformText = [this.platform.os, this.platform.architecture, this.platform.variant ?? ''].join(
      '/',
    );
    return {
      digest: sha256(
        Buffer.concat([
          Buffer.from(`file|${platformText}|`),
          toBinary(FileOpSchema, create(FileOpSchema, this.#file)),
        ]),
      ),
      deps: Array.from({ length: n }, (_, i) => {
        const found = selectors.get(i);
        return found
          ? { contentBased: true, selectors: found.selectors }
          : { contentBased: false, selectors: [] };
      }),
    };
  }

  async exec(ctx: OpContext, inputs: readonly ResultRef[]): Promise<readonly ResultRef[]> {
    const n = inputs.length;
    const actions = this.#file.actions;
    const results: Array<Tree | undefined> = [];
    const held: Tree[] = [];
    // How many later actions read each action's result (as base, source or owner lookup).
    const readers = actions.map(() => 0);
    for (const a of actions) {
      for (const index of inputsOf(a)) if (index >= n) readers[index - n]!++;
    }
    const { snapshotter } = this.deps;
    const overlay = snapshotter.driver === 'overlayfs';
    const readOnly = async (index: number): Promise<Tree | undefined> => {
      if (index < 0) return undefined;
      if (index >= n) return results[index - n];
      const snapshot = inputs[index]?.snapshot;
      if (!snapshot) return undefined;
      const tree = await this.#view(snapshot);
      held.push(tree);
      return tree;
    };
    try {
      let output: Tree | undefined;
      for (let i = 0; i < actions.length; i++) {
        ctx.signal.throwIfAborted();
        const action = actions[i]!;
        const base = Number(action.input);
        const copy = action.action.case === 'copy' ? action.action.value : undefined;
        // Unread later, an overlay copy's result need not be mounted (see #upperTree).
        const lower =
          copy && overlay && readers[i] === 0 && base >= 0 && base < n ? await readOnly(base) : undefined;
        const tree = await this.#writable(
          base,
          n,
          inputs,
          results,
          readers,
          held,
          lower && copy ? { lower: lower.dir, copy } : undefined,
        );
        const secondaryIndex = Number(action.secondaryInput);
        const secondary = await readOnly(secondaryIndex);
        // Overlayfs copies a shared lower file up before changing it, so a result that is only
        // read later (or not at all) in this op may share inodes with a committed input.
        const linkFiles =
          overlay &&
          secondaryIndex >= 0 &&
          secondaryIndex < n &&
          !actions.some((later, j) => j > i && Number(later.input) === n + i);
        await applyFileAction(action, {
          root: tree.dir,
          ...(secondary ? { secondary: secondary.dir } : {}),
          linkFiles,
          userLookup: async (input) => {
            const source = (await readOnly(input)) ?? (input === base ? tree : undefined);
            return source ? readUserDatabase(source.dir) : {};
          },
          signal: ctx.signal,
          ...(this.deps.logger ? { logger: this.deps.logger } : {}),
        });
        results[i] = tree;
        if (action.output === 0n) output = tree;
      }
      const final = output ?? results[results.length - 1];
      if (!final?.key) return [{ snapshot: undefined }];
      await final.release();
      const name = `file-${newId()}`;
      await snapshotter.commit(name, final.key);
      held.splice(held.indexOf(final), 1);
      return [{ snapshot: name }];
    } finally {
      for (const tree of held.reverse()) {
        await tree
          .release()
          .catch((err: unknown) => this.deps.logger?.warn({ err }, 'file op cleanup failed'));
      }
    }
  }

  /** The writable tree for an action's base. */
  async #writable(
    base: number,
    n: number,
    inputs: readonly ResultRef[],
    results: Array<Tree | undefined>,
    readers: number[],
    held: Tree[],
    upperCopy?: { lower: string; copy: FileActionCopy },
  ): Promise<Tree> {
    let parent: string | undefined;
    if (base >= n) {
      const earlier = results[base - n];
      if (earlier && readers[base - n] === 1) return earlier;
      if (earlier?.key) {
        // Read by several actions: freeze it and branch.
        await earlier.release();
        parent = `file-part-${newId()}`;
        await this.deps.snapshotter.commit(parent, earlier.key);
        held.splice(held.indexOf(earlier), 1);
        // Part of the result's chain on success; removable only after a failure removed its child.
        held.push({ dir: '', release: () => this.deps.snapshotter.remove(parent!).catch(() => undefined) });
        // Later actions that read it (as a source or for owner names) see the frozen part.
        const view = await this.#view(parent);
        held.push(view);
        results[base - n] = view;
      }
    } else if (base >= 0) {
      parent = inputs[base]?.snapshot;
    }
    const key = `file-active-${newId()}`;
    const mounts = await this.deps.snapshotter.prepare(key, parent);
    const upper = parent && upperCopy ? await this.#upperTree(key, upperCopy) : undefined;
    const tree = upper ?? (await this.#mount(key, mounts, false));
    held.push(tree);
    return tree;
  }

  /**
   * A copy written straight into the new overlay snapshot's upper directory, never mounted, when
   * that gives the same tree as writing through the overlay (prepareUpperForCopy decides, looking
   * at `lower`, the base's tree). Saves a mount, and the copy's files can be hardlinks of a source
   * snapshot on the same filesystem, which an overlay mount (another device) refuses.
   */
  async #upperTree(
    key: string,
    upperCopy: { lower: string; copy: FileActionCopy },
  ): Promise<Tree | undefined> {
    const { dir } = await this.deps.snapshotter.writableLayer(key);
    if (!prepareUpperForCopy(upperCopy.lower, dir, upperCopy.copy)) return undefined;
    return { dir, key, release: async () => {} };
  }

  async #view(snapshot: string): Promise<Tree> {
    const info = await this.deps.snapshotter.stat(snapshot);
    if (!info.parent) {
      const source = await this.deps.snapshotter.changeSource(snapshot);
      return { dir: source.dir, release: async () => {} };
    }
    const key = `file-view-${newId()}`;
    return this.#mount(key, await this.deps.snapshotter.view(key, snapshot), true);
  }

  /** Makes a snapshot's mounts a host directory until release (a plain bind needs no mount). */
  async #mount(key: string, mounts: readonly Mount[], view: boolean): Promise<Tree> {
    const { snapshotter } = this.deps;
    const bind = mounts.length === 1 && mounts[0]!.type === 'bind' ? mounts[0]!.source : undefined;
    if (bind) {
      let released = false;
      return {
        dir: bind,
        ...(view ? {} : { key }),
        release: async () => {
          if (released) return;
          released = true;
          if (view) await snapshotter.remove(key);
        },
      };
    }
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    let mounted!: (dir: string) => void;
    const dir = new Promise<string>((resolve) => (mounted = resolve));
    const done = snapshotter.withTempMount(mounts, async (d) => {
      mounted(d);
      await hold;
    });
    const failed = done.then(
      () => undefined,
      (err: unknown) => err,
    );
    const ready = await Promise.race([dir, failed.then((err) => Promise.reject(err))]);
    let released = false;
    return {
      dir: ready,
      ...(view ? {} : { key }),
      release: async () => {
        if (released) return;
        released = true;
        release();
        await done;
        if (view) await snapshotter.remove(key);
      },
    };
  }
}

/** Every input or earlier result an action reads: its base, its copy source, owner lookups. */
function inputsOf(action: FileAction): number[] {
  const value = action.action.value;
  const owner = value !== undefined && 'owner' in value ? value.owner : undefined;
  return [Number(action.input), Number(action.secondaryInput), ...ownerInputs(owner).map((o) => o.input)];
}
