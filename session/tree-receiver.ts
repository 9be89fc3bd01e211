import { execFile } from 'node:child_process';
import { linkSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Packet_PacketType as PacketType } from '../proto/gen/fsutil/types/wire_pb.js';
import { FileSyncProtocolError, FileSyncRemoteError, FileSyncWriteError } from './errors.js';
import type { ReceiveDirectoryOptions, ReceiveDirectoryResult, ReceivedEntry } from './file-sync.js';
import { FileWriter, type WritePace } from './file-writer.js';
import {
  GoMode,
  StatOrderValidator,
  fromProtoStat,
  isDir,
  isRequestable,
  isSymlink,
  posixPermissions,
  type FileStat,
} from './fs-stat.js';
import type { WirePacket } from './wire-codec.js';
import { applyXattrs } from './xattrs.js';

const execFileAsync = promisify(execFile);

/** Bytes received but not yet on disk before the receiver stops reading the stream. */
const MAX_BUFFERED = 16 << 20;

/** A file whose previous copy is reused: linked from `source` once its directory exists. */
interface Reuse {
  readonly id: number;
  readonly entry: ReceivedEntry;
  readonly digest: string;
  readonly source: string;
  readonly target: string;
  readonly parentReady: Promise<void>;
}

export type PacketInit = { type: PacketType; ID?: number; data?: Uint8Array };

/**
 * The receiving side of one DiffCopy: validates each STAT, creates directories, symlinks and
 * special files as they arrive, requests (or reuses from `previous`) regular files, writes DATA
 * through FileWriters, sends FIN once everything requested is in, and completes the tree
 * (hardlinks, xattrs, directory metadata deepest first) in finish().
 */
export class Receiver {
  readonly entries = new Map<string, ReceivedEntry>();
  failure: Error | undefined;
  private readonly validator = new StatOrderValidator();
  private readonly dirReady = new Map<string, Promise<void>>([['', Promise.resolve()]]);
  private readonly requestable = new Map<string, number>();
  private readonly writers = new Map<number, { writer: FileWriter; entry: ReceivedEntry }>();
  private readonly tasks: Promise<unknown>[] = [];
  private readonly hardlinks: ReceivedEntry[] = [];
  private readonly dirs: ReceivedEntry[] = [];
  /** Files to reuse from `previous`, linked once every STAT is in (and only if something changed). */
  private readonly deferred: Reuse[] = [];
  /** Paths linked from `previous`: shared with it, so their xattrs (already equal) are left alone. */
  private readonly linked = new Set<string>();
  /** Whether this transfer's synchronous file writes have stalled (its writers share it). */
  private readonly pace: WritePace = { stalled: false };
  /** The tree turned out to equal `previous`, entry for entry: nothing was linked into `dest`. */
  private unchanged = false;
  private nextId = 0;
  private statsDone = false;
  private finSent = false;
  private undecided = 0;
  private openFiles = 0;
  private requested = 0;
  private completed = 0;
  private bytes = 0;
  private buffered = 0;
  private drained: (() => void) | undefined;
  private send!: (packet: PacketInit) => Promise<void>;
  private end!: () => void;
  private cancel!: () => void;
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;

  constructor(
    private readonly options: ReceiveDirectoryOptions,
    private readonly umask: number,
  ) {}

  attach(send: (packet: PacketInit) => Promise<void>, end: () => void, cancel: () => void): void {
    this.send = send;
    this.end = end;
    this.cancel = cancel;
  }

  get complete(): boolean {
    return this.statsDone && this.openFiles === 0 && this.undecided === 0;
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  async onPacket(packet: WirePacket): Promise<void> {
    switch (packet.type) {
      case PacketType.PACKET_STAT:
        if (!packet.stat) {
          this.statsDone = true;
          this.onStatsDone();
          this.maybeFin();
        } else this.onStat(fromProtoStat(packet.stat));
        return;
      case PacketType.PACKET_DATA:
        this.onData(packet.ID, packet.data);
        if (this.buffered > MAX_BUFFERED) await new Promise<void>((resolve) => (this.drained = resolve));
        return;
      case PacketType.PACKET_ERR:
        throw new FileSyncRemoteError({ side: 'sender', remoteMessage: Buffer.from(packet.data).toString() });
      case PacketType.PACKET_FIN:
        return;
      default:
        throw new FileSyncProtocolError({ message: `unexpected packet type ${packet.type} from the sender` });
    }
  }

  private onStat(stat: FileStat): void {
    if (this.statsDone)
      throw new FileSyncProtocolError({
        message: `STAT ${stat.path} after the end of STATs`,
        path: stat.path,
      });
    const dir = isDir(stat.mode);
    this.validator.check(stat.path, dir);
    const id = this.nextId++;
    const slash = stat.path.lastIndexOf('/');
    const parentPath = slash < 0 ? '' : stat.path.slice(0, slash);
    const parentReady = this.dirReady.get(parentPath);
    if (!parentReady) {
      throw new FileSyncProtocolError({
        message: `${stat.path}: parent ${parentPath} is not a directory`,
        path: stat.path,
      });
    }
    const entry: ReceivedEntry = { stat };
    this.entries.set(stat.path, entry);
    const target = join(this.options.dest, stat.path);
    if (dir) {
      const ready = parentReady.then(() => fsp.mkdir(target, { mode: 0o700 }));
      this.track(ready, target, 'creating directory');
      this.dirReady.set(
        stat.path,
        ready.catch(() => undefined),
      );
      this.dirs.push(entry);
      return;
    }
    if (isSymlink(stat.mode)) {
      this.track(
        parentReady.then(async () => {
          await fsp.symlink(stat.linkname, target);
          await this.own(target, stat, true);
          const mtime = seconds(stat.modTime);
          await fsp.lutimes(target, mtime, mtime);
        }),
        target,
        'creating symlink',
      );
      return;
    }
    if (!isRequestable(stat.mode)) {
      this.track(
        parentReady.then(() => this.makeSpecial(target, stat)),
        target,
        'creating special file',
      );
      return;
    }
    if (stat.linkname) {
      const linked = this.entries.get(stat.linkname);
      if (!linked || !isRequestable(linked.stat.mode) || linked.stat.linkname) {
        throw new FileSyncProtocolError({
          message: `invalid link ${stat.path} to unknown path: ${JSON.stringify(stat.linkname)}`,
          path: stat.path,
        });
      }
      this.hardlinks.push(entry);
      return;
    }
    this.requestable.set(stat.path, id);
    const previous = this.options.differ === 'none' ? undefined : this.options.previous;
    const before = previous?.entries.get(stat.path);
    // Xattrs count too: a reused file is a link to the previous one, never changed in place.
    if (previous && before?.digest && sameMetadata(before.stat, stat) && sameXattrs(before.stat, stat)) {
      this.undecided++;
      this.deferred.push({
        id,
        entry,
        digest: before.digest,
        source: join(previous.dir, stat.path),
        target,
        parentReady,
      });
      return;
    }
    this.request(id, entry, target, parentReady);
  }

  /**
   * Every STAT is in. When the tree is the previous one unchanged (same paths, same metadata,
   * nothing requested), reused files are not linked at all: the caller keeps the previous tree.
   * Otherwise they are linked now, still before FIN, so a file that cannot be linked is requested.
   */
  private onStatsDone(): void {
    const deferred = this.deferred.splice(0);
    if (this.sameAsPrevious()) {
      this.unchanged = true;
      for (const d of deferred) d.entry.digest = d.digest;
      this.undecided -= deferred.length;
      return;
    }
    this.track(this.linkAll(deferred), this.options.dest, 'linking previous');
  }

  /**
   * Links the reused files in one synchronous loop (a file system call each, where a trip through
   * the thread pool per file cost more than the call), letting other work in every few
   * milliseconds. A file that cannot be linked is requested from the client instead.
   */
  private async linkAll(reuses: readonly Reuse[]): Promise<void> {
    let lastYield = performance.now();
    for (const r of reuses) {
      await r.parentReady;
      if (this.failure) return;
      try {
        linkSync(r.source, r.target);
        r.entry.digest = r.digest;
        this.linked.add(r.entry.stat.path);
      } catch (err) {
        this.options.logger?.debug(
          { err, path: r.entry.stat.path },
          'cannot reuse previous file; requesting it',
        );
        this.request(r.id, r.entry, r.target, r.parentReady);
      }
      this.undecided--;
      if (performance.now() - lastYield > 4) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
    this.maybeFin();
  }

  private sameAsPrevious(): boolean {
    const previous = this.options.differ === 'none' ? undefined : this.options.previous;
    if (!previous || this.requested > 0 || previous.entries.size !== this.entries.size) return false;
    for (const [path, { stat }] of this.entries) {
      const before = previous.entries.get(path)?.stat;
      if (!before || !sameMetadata(before, stat) || !sameXattrs(before, stat)) return false;
    }
    return true;
  }

  private request(id: number, entry: ReceivedEntry, target: string, parentReady: Promise<void>): void {
    const { stat } = entry;
    const perm = posixPermissions(stat.mode);
    const owner =
      stat.uid !== this.uid || stat.gid !== this.gid ? { uid: stat.uid, gid: stat.gid } : undefined;
    const writer = new FileWriter(
      target,
      parentReady,
      {
        perm,
        chmod: (perm & ~0o777) !== 0 || (perm & this.umask) !== 0,
        owner,
        mtime: seconds(stat.modTime),
      },
      (n) => this.flushed(n),
      this.pace,
    );
    this.writers.set(id, { writer, entry });
    this.openFiles++;
    this.requested++;
    this.track(
      writer.done.then((digest) => {
        entry.digest = digest;
        this.completed++;
        this.options.onProgress?.({
          bytes: this.bytes,
          requested: this.requested,
          completed: this.completed,
        });
      }),
      target,
      'writing',
    );
    this.track(this.send({ type: PacketType.PACKET_REQ, ID: id }), target, 'requesting');
  }

  private onData(id: number, data: Uint8Array): void {
    const open = this.writers.get(id);
    if (!open)
      throw new FileSyncProtocolError({
        message: `DATA for file id ${id}, which was not requested or is complete`,
      });
    if (data.length === 0) {
      open.writer.end();
      this.writers.delete(id);
      this.openFiles--;
      this.maybeFin();
      return;
    }
    this.bytes += data.length;
    this.buffered += data.length;
    open.writer.write(data);
  }

  private flushed(n: number): void {
    this.buffered -= n;
    if (this.drained && this.buffered < MAX_BUFFERED / 4) {
      const drained = this.drained;
      this.drained = undefined;
      drained();
    }
  }

  private maybeFin(): void {
    if (this.finSent || !this.complete) return;
    this.finSent = true;
    this.track(
      this.send({ type: PacketType.PACKET_FIN }).then(() => this.end()),
      this.options.dest,
      'finishing',
    );
  }

  private track(task: Promise<unknown>, path: string, operation: string): void {
    this.tasks.push(
      task.catch((err: unknown) => {
        if (!this.failure) {
          // kiln errors (they carry a kind) pass through; raw fs errors get the path and step.
          this.failure = hasKind(err) ? err : new FileSyncWriteError({ path, operation, cause: err });
          this.cancel();
        }
        const drained = this.drained;
        this.drained = undefined;
        drained?.();
      }),
    );
  }

  private async own(target: string, stat: FileStat, link: boolean): Promise<void> {
    if (stat.uid === this.uid && stat.gid === this.gid) return;
    if (link) await fsp.lchown(target, stat.uid, stat.gid);
    else await fsp.chown(target, stat.uid, stat.gid);
  }

  private async makeSpecial(target: string, stat: FileStat): Promise<void> {
    const mode = (posixPermissions(stat.mode) & 0o7777).toString(8);
    let args: string[];
    if (stat.mode & GoMode.namedPipe) args = ['-m', mode, target, 'p'];
    else if (stat.mode & GoMode.device) {
      const kind = stat.mode & GoMode.charDevice ? 'c' : 'b';
      args = ['-m', mode, target, kind, String(stat.devmajor), String(stat.devminor)];
    } else {
      // Sockets and irregular files carry nothing that can be recreated.
      return;
    }
    await execFileAsync('mknod', args);
    await this.own(target, stat, false);
    const mtime = seconds(stat.modTime);
    await fsp.utimes(target, mtime, mtime);
  }

  /** Abandons the files still open after a failure. */
  abort(reason: Error): void {
    for (const { writer } of this.writers.values()) writer.abort(reason);
    this.writers.clear();
  }

  /** Waits for every started filesystem task (used after a failure, before reporting it). */
  async settle(): Promise<void> {
    await Promise.all(this.tasks);
  }

  /** Completes the tree after the stream ended: hardlinks, xattrs, directory modes and mtimes. */
  async finish(): Promise<ReceiveDirectoryResult> {
    await this.settle();
    this.throwIfFailed();
    if (this.unchanged) {
      for (const entry of this.hardlinks) entry.digest = this.entries.get(entry.stat.linkname)?.digest;
      return { entries: this.entries, requested: 0, bytes: this.bytes, unchanged: true };
    }
    const { dest } = this.options;
    for (const entry of this.hardlinks) {
      const target = join(dest, entry.stat.path);
      try {
        await fsp.link(join(dest, entry.stat.linkname), target);
      } catch (err) {
        throw new FileSyncWriteError({ path: target, operation: 'hardlinking', cause: err });
      }
      const linked = this.entries.get(entry.stat.linkname);
      if (linked?.digest) entry.digest = linked.digest;
      if (this.linked.has(entry.stat.linkname)) this.linked.add(entry.stat.path);
    }
    applyXattrs(dest, this.entries.values(), this.linked, this.options.logger);
    for (let i = this.dirs.length - 1; i >= 0; i--) {
      const { stat } = this.dirs[i] as ReceivedEntry;
      const target = join(dest, stat.path);
      try {
        await this.own(target, stat, false);
        await fsp.chmod(target, posixPermissions(stat.mode));
        const mtime = seconds(stat.modTime);
        await fsp.utimes(target, mtime, mtime);
      } catch (err) {
        throw new FileSyncWriteError({ path: target, operation: 'setting metadata of', cause: err });
      }
    }
    return { entries: this.entries, requested: this.requested, bytes: this.bytes, unchanged: false };
  }
}

function hasKind(err: unknown): err is Error & { kind: string } {
  return err instanceof Error && typeof (err as { kind?: unknown }).kind === 'string';
}

/** Whether two records of a non-directory describe the same content (fsutil's metadata differ). */
function sameMetadata(a: FileStat, b: FileStat): boolean {
  return (
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.size === b.size &&
    a.modTime === b.modTime &&
    a.linkname === b.linkname &&
    a.devmajor === b.devmajor &&
    a.devminor === b.devminor
  );
}

function sameXattrs(a: FileStat, b: FileStat): boolean {
  const names = Object.keys(a.xattrs);
  if (names.length !== Object.keys(b.xattrs).length) return false;
  return names.every((n) => {
    const other = b.xattrs[n];
    return other !== undefined && Buffer.from(a.xattrs[n]!).equals(other);
  });
}

/**
 * Nanoseconds as the fractional seconds Node's utimes takes. libuv truncates to whole
 * microseconds; aiming at the middle of the microsecond keeps the double's rounding error (a few
 * hundred ns at today's dates) from landing on the one below, so the result is exact to the µs.
 */
function seconds(ns: bigint): number {
  const micros = (ns % 1_000_000_000n) / 1000n;
  return Number(ns / 1_000_000_000n) + (Number(micros) + 0.5) / 1e6;
}

/** The process umask, learned from a probe file so the process-wide value is never rewritten. */
export async function probeUmask(dir: string): Promise<number> {
  const probe = join(dir, `.kiln-umask-${process.pid}-${Date.now()}`);
  try {
    const handle = await fsp.open(probe, 'wx', 0o777);
    const { mode } = await handle.stat();
    await handle.close();
    await fsp.unlink(probe);
    return ~mode & 0o777;
  } catch (err) {
    throw new FileSyncWriteError({ path: dir, operation: 'probing the umask in', cause: err });
  }
}
