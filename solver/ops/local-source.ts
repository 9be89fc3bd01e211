import type { Logger } from 'pino';
import { sha256 } from '../../oci/index.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import { receiveDirectory, type ReceivedEntry, type SessionManager } from '../../session/index.js';
import { TreeChecksummer } from '../checksum.js';
import { publishBytes } from '../events.js';
import { SolveRequestError } from '../errors.js';
import { newId } from '../job.js';
import type { LlbOpView } from '../llb-view.js';
import type { CacheMap, OpContext, ResultRef, SolverOp } from '../op.js';
import { treeRecords, type TreeRecordStore } from '../tree-records.js';
import { RecordTree } from '../tree-source.js';

export interface LocalSourceDeps {
  readonly snapshotter: LocalSnapshotter;
  readonly sessions: SessionManager;
  readonly records: TreeRecordStore;
  readonly logger?: Logger;
}

function jsonList(value: string | undefined, attr: string): string[] | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    const list: unknown = JSON.parse(value);
    if (Array.isArray(list) && list.every((s) => typeof s === 'string')) return list;
  } catch {
    // reported below
  }
  throw new SolveRequestError(`${attr} must be a JSON array of strings, got ${JSON.stringify(value)}`);
}

/**
 * A `local://` source: the client's directory, pulled through the session into a new snapshot.
 * Transfers are incremental: unchanged files are reused from the previous transfer of the same
 * directory. The cache key is the content checksum of what arrived (computed during the transfer).
 */
export class LocalSourceOp implements SolverOp {
  readonly outputs = 1;
  readonly recordType = 'source.local';
  readonly workInCacheMap = true;
  readonly #name: string;
  readonly #attrs: Readonly<Record<string, string>>;
  #result: string | undefined;

  constructor(
    view: LlbOpView,
    private readonly deps: LocalSourceDeps,
  ) {
    if (view.op.op.case !== 'source') throw new Error('not a source op');
    this.#name = view.op.op.value.identifier.slice('local://'.length);
    this.#attrs = view.op.op.value.attrs;
  }

  async cacheMap(ctx: OpContext): Promise<CacheMap> {
    const attrs = this.#attrs;
    const sessionAttr = attrs['local.session'] ?? '';
    const sessionId = sessionAttr.includes(':')
      ? sessionAttr.slice(sessionAttr.indexOf(':') + 1)
      : sessionAttr;
    const ids = sessionId ? [sessionId] : ctx.sessionIds();
    if (ids.length === 0)
      throw new SolveRequestError(`local source ${this.#name} needs a session, and the build has none`);
    const session = await this.deps.sessions.get(ids[0]!, { timeoutMs: 5000, signal: ctx.signal });
    const shareKey = [this.#name, attrs['local.sharedkeyhint'] ?? '', session.sharedKey, session.name].join(
      ':',
    );
    const previous = this.deps.records.latest(shareKey);
    const previousDir = previous ? await this.#dirOf(previous.snapshot).catch(() => undefined) : undefined;
    const key = `local-active-${newId()}`;
    const { snapshotter } = this.deps;
    await snapshotter.prepare(key);
    let committed = false;
    try {
      const layer = await snapshotter.writableLayer(key);
      const started = new Date();
      const statusId = `transferring ${this.#name}:`;
      const differ = attrs['local.differ'] === 'none' ? 'none' : 'metadata';
      const include = jsonList(attrs['local.includepattern'], 'local.includepattern');
      const exclude = jsonList(attrs['local.excludepatterns'], 'local.excludepatterns');
      const follow = jsonList(attrs['local.followpaths'], 'local.followpaths');
      const received = await receiveDirectory(session, {
        dirName: this.#name,
        dest: layer.dir,
        differ,
        signal: ctx.signal,
        ...(include ? { includePatterns: include } : {}),
        ...(exclude ? { excludePatterns: exclude } : {}),
        ...(follow ? { followPaths: follow } : {}),
        ...(previous && previousDir ? { previous: { dir: previousDir, entries: previous.entries } } : {}),
        ...(this.deps.logger ? { logger: this.deps.logger } : {}),
        onProgress: (p) =>
          ctx.progress.status({ id: statusId, name: 'transferring', current: p.bytes, total: 0, started }),
      });
      ctx.progress.status({
        id: statusId,
        name: 'transferring',
        current: received.bytes,
        total: 0,
        started,
        completed: new Date(),
      });
      publishBytes('transferred', received.bytes);
      if (received.unchanged && previous) {
        // The client's tree is the previous transfer's, file for file: that snapshot is the
        // result (this one, holding only directories and links, is removed in `finally`).
        this.#result = previous.snapshot;
        return { digest: await this.#digest(previous.entries), deps: [] };
      }
      const name = `local-${newId()}`;
      await snapshotter.commit(name, key);
      committed = true;
      this.deps.records.save(shareKey, name, received.entries);
      this.#result = name;
      return { digest: await this.#digest(received.entries), deps: [] };
    } finally {
      if (!committed) await snapshotter.remove(key).catch(() => undefined);
    }
  }

  async #digest(entries: ReadonlyMap<string, ReceivedEntry>): Promise<string> {
    const tree = new TreeChecksummer(new RecordTree(treeRecords(entries)));
    const content = await tree.checksum({ path: '/', followLinks: false, wildcard: false });
    return sha256(`local|${this.#name}|${content}`);
  }

  async exec(): Promise<readonly ResultRef[]> {
    return [{ snapshot: this.#result }];
  }

  async #dirOf(snapshot: string): Promise<string> {
    const source = await this.deps.snapshotter.changeSource(snapshot);
    return source.dir;
  }
}
