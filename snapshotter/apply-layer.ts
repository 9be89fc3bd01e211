import { setAttribute } from '@napi-rs/xattr';
import { chmodSync, constants, lchownSync, lstatSync, lutimesSync, mkdirSync, symlinkSync } from 'node:fs';
import { link, lstat, open, readdir, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { Digester, type Digest } from '../oci/index.js';
import { decompress } from './compression.js';
import { LayerApplyError, SnapshotterError, UnsafeLayerPathError } from './errors.js';
import { copyUp } from './copy-up.js';
import { cleanEntryName, type DirNode, isOverlayXattr, LayerFs, opaqueXattr } from './layer-fs.js';
import { runTool } from './mounting.js';
import type { LocalSnapshotter, WritableLayer } from './snapshotter.js';
import { readTar, type TarEntry } from './tar-reader.js';

export interface ApplyOptions {
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar: the layer's diffID. */
  readonly diffId: Digest;
  /** Bytes of uncompressed tar read. */
  readonly size: number;
}

const whiteoutPrefix = '.wh.';
/** Files up to this size are read into memory and written in the background, several at once. */
const smallFile = 1 << 20;
/** Background file writes at once: enough to keep the libuv pool busy while the tar is read. */
const maxInFlight = 32;
const ownUid = process.getuid?.() ?? -1;
const ownGid = process.getgid?.() ?? -1;
const opaqueMarker = '.wh..wh..opq';

/**
 * Applies a layer blob (gzip, zstd or plain tar, detected from its bytes) to the active snapshot
 * `key`. See `applyTar` for what is written and refused. On failure the snapshot is left
 * half-written: remove it. Cost: one pass over the layer, a few syscalls per entry.
 */
export async function applyLayer(
  snapshotter: LocalSnapshotter,
  key: string,
  blob: AsyncIterable<Uint8Array>,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  return applyTar(await snapshotter.writableLayer(key), blob, options);
}

/**
 * Writes a layer into `layer.dir`. OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) become overlay
 * whiteouts (char device 0/0, `trusted.overlay.opaque=y`) or real deletions, per `layer.whiteouts`.
 * Every entry is resolved inside the root: names climbing out with `..` are refused
 * (UnsafeLayerPathError), symlinks met in parent positions resolve with the root as `/`, the last
 * component is replaced, never followed, and hardlink targets resolve the same way. Ownership,
 * modes, binary xattrs (never `trusted.overlay.*` from the layer), devices, fifos and mtimes are
 * restored; directory times are set once everything below them is written.
 */
export async function applyTar(
  layer: WritableLayer,
  blob: AsyncIterable<Uint8Array>,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const digester = new Digester();
  const hashed = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of decompress(blob)) {
      digester.update(chunk);
      yield chunk;
    }
  };
  const applier = new Applier(layer);
  try {
    for await (const { entry, body } of readTar(hashed())) {
      options.signal?.throwIfAborted();
      try {
        await applier.apply(entry, body);
      } catch (error) {
        if (error instanceof SnapshotterError) throw error;
        throw new LayerApplyError({ entry: entry.name, cause: error });
      }
    }
    await applier.settle();
    await applier.fs.restoreDirTimes();
  } finally {
    await applier.dispose();
  }
  options.logger?.debug({ dir: layer.dir, diffId: digester.digest(), size: digester.size }, 'layer applied');
  return { diffId: digester.digest(), size: digester.size };
}

class Applier {
  readonly fs: LayerFs;
  /** Paths this layer wrote; an opaque marker in delete mode removes everything else in its dir. */
  readonly #written = new Set<string>();
  #template: string | undefined;
  /** Small files being written in the background, by path. */
  readonly #inflight = new Map<string, Promise<void>>();
  #failure: unknown;

  constructor(layer: WritableLayer) {
    this.fs = new LayerFs(layer);
  }

  async apply(entry: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    const small = entry.type === 'file' && entry.size <= smallFile;
    // Only new small files overlap; anything else may depend on earlier entries being on disk.
    if (!small) await this.settle();
    const parts = cleanEntryName(entry.name);
    const last = parts[parts.length - 1];
    if (last === undefined) return; // the root itself keeps the snapshot's own attributes
    if (last.startsWith(whiteoutPrefix)) return this.#whiteout(entry.name, parts);
    const { dir, base } = await this.fs.parentOf(parts, entry.name);
    await this.fs.ensureUpper(dir);
    const path = this.fs.upperPath(dir, base);
    switch (entry.type) {
      case 'dir':
        return this.#dir(entry, dir, base, path);
      case 'link':
        return this.#hardlink(entry, dir, base, path);
      case 'file': {
        const existing = lstatSync(path, { throwIfNoEntry: false });
        if (this.#inflight.has(path) || existing?.isDirectory()) await this.settle();
        if (existing) await this.fs.clear(dir, base);
        else this.fs.forget(dir, base);
        if (small) await this.#background(entry, path, await collect(body));
        else await this.#file(entry, path, body);
        break;
      }
      case 'symlink':
        await this.fs.clear(dir, base);
        symlinkSync(entry.linkname, path);
        break;
      default:
        await this.fs.clear(dir, base);
        await this.#node(entry, path);
    }
    this.#written.add(path);
    if (entry.type !== 'file') await this.#attributes(entry, path);
  }

  async #dir(entry: TarEntry, dir: DirNode, base: string, path: string): Promise<void> {
    const existing = lstatSync(path, { throwIfNoEntry: false });
    if (!existing) {
      mkdirSync(path, { mode: 0o755 });
      this.fs.forget(dir, base); // merges with lower directories of that name, if any
    } else if (!existing.isDirectory()) {
      await this.fs.mkdirHiding(dir, base); // replaces this layer's file or whiteout; lowers stay hidden
    }
    this.#written.add(path);
    await this.#attributes(entry, path);
    this.fs.dirTimes.set(path, { atime: mtimeOf(entry), mtime: mtimeOf(entry) });
  }

  async #background(entry: TarEntry, path: string, data: Buffer): Promise<void> {
    while (this.#inflight.size >= maxInFlight) await Promise.race(this.#inflight.values());
    const task = this.#file(entry, path, [data])
      .catch((error: unknown) => {
        this.#failure ??= new LayerApplyError({ entry: entry.name, cause: error });
      })
      .finally(() => this.#inflight.delete(path));
    this.#inflight.set(path, task);
  }

  /** Waits for every background write; throws the first one's failure. */
  async settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all(this.#inflight.values());
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #file(entry: TarEntry, path: string, body: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const fh = await open(path, flags, 0o600);
    try {
      for await (const piece of body) {
        for (let off = 0; off < piece.length;) off += (await fh.write(piece, off)).bytesWritten;
      }
      // A new file is already owned by the daemon (root), as most layer files are.
      if (entry.uid !== ownUid || entry.gid !== ownGid) await fh.chown(entry.uid, entry.gid);
      await fh.chmod(entry.mode);
      await this.#xattrs(entry, path);
      await fh.utimes(mtimeOf(entry), mtimeOf(entry));
    } finally {
      await fh.close();
    }
  }

  async #node(entry: TarEntry, path: string): Promise<void> {
    const mode = (entry.mode & 0o777).toString(8);
    const args =
      entry.type === 'fifo'
        ? ['-m', mode, path, 'p']
        : [
            '-m',
            mode,
            path,
            entry.type === 'char' ? 'c' : 'b',
            String(entry.devmajor),
            String(entry.devminor),
          ];
    const r = await runTool('mknod', args);
    if (!r.ok) throw new Error(`mknod: ${r.output.trim()}`);
  }

  async #hardlink(entry: TarEntry, dir: DirNode, base: string, path: string): Promise<void> {
    const targetParts = cleanEntryName(entry.linkname, entry.name);
    if (targetParts.length === 0)
      throw new UnsafeLayerPathError({ entry: entry.name, reason: 'hardlink to the root' });
    const target = await this.fs.parentOf(targetParts, entry.name);
    const visible = await this.fs.lookup(target.dir, target.base);
    if (!visible) throw new Error(`hardlink target ${JSON.stringify(entry.linkname)} does not exist`);
    if (visible.st.isDirectory())
      throw new Error(`hardlink target ${JSON.stringify(entry.linkname)} is a directory`);
    if (visible.where !== 'upper') {
      await this.fs.ensureUpper(target.dir);
      await copyUp(
        this.fs.layerPath(visible.where, target.dir, target.base),
        this.fs.upperPath(target.dir, target.base),
      );
    }
    const targetPath = this.fs.upperPath(target.dir, target.base);
    if (targetPath === path) return;
    await this.fs.clear(dir, base);
    await link(targetPath, path);
    this.#written.add(path);
  }

  /**
   * Ownership, mode, xattrs and times of a directory, symlink or special file. The syscalls are
   * synchronous (see layer-fs.ts: microseconds each, where a libuv round trip per call made
   * unpacking busybox's 270 symlinks take 0.3–1 s on a busy machine).
   */
  async #attributes(entry: TarEntry, path: string): Promise<void> {
    lchownSync(path, entry.uid, entry.gid);
    if (entry.type !== 'symlink') chmodSync(path, entry.mode);
    if (entry.xattrs.size > 0) await this.#xattrs(entry, path);
    if (entry.type !== 'dir') lutimesSync(path, mtimeOf(entry), mtimeOf(entry));
  }

  async #xattrs(entry: TarEntry, path: string): Promise<void> {
    for (const [name, value] of entry.xattrs) {
      if (isOverlayXattr(name)) continue;
      try {
        await setAttribute(path, name, value);
      } catch (error) {
        // Linux refuses user.* attributes on symlinks; a layer made elsewhere may still carry them.
        if (!(entry.type === 'symlink' && name.startsWith('user.'))) throw error;
      }
    }
  }

  async #whiteout(name: string, parts: readonly string[]): Promise<void> {
    const found = await this.fs.parentOf(parts, name, { create: false });
    if (!found) return; // the directory does not exist, so there is nothing to hide
    const { dir, base } = found;
    if (base === opaqueMarker) return this.#opaque(dir);
    if (base.startsWith(`${whiteoutPrefix}${whiteoutPrefix}`)) return; // aufs metadata, meaningless here
    const victim = base.slice(whiteoutPrefix.length);
    if (victim === '' || victim === '.' || victim === '..' || victim.includes('/')) {
      throw new UnsafeLayerPathError({ entry: name, reason: `a whiteout of ${JSON.stringify(victim)}` });
    }
    await this.fs.clear(dir, victim);
    if (!this.fs.overlay || !(await this.fs.lookup(dir, victim, { lowersOnly: true }))) return;
    await this.fs.ensureUpper(dir);
    // Hardlinks of one 0/0 device: overlayfs shares a single whiteout inode the same way.
    await link(await this.#whiteoutTemplate(), this.fs.upperPath(dir, victim));
  }

  async #opaque(dir: DirNode): Promise<void> {
    if (this.fs.overlay) {
      await this.fs.ensureUpper(dir);
      await setAttribute(this.fs.upperPath(dir), opaqueXattr, 'y');
      dir.lowers = [];
      dir.children.clear();
      return;
    }
    await this.#purge(this.fs.upperPath(dir));
    dir.children.clear();
  }

  /** Deletes everything below `path` this layer did not write itself. */
  async #purge(path: string): Promise<void> {
    for (const name of await readdir(path)) {
      const child = join(path, name);
      if (!this.#written.has(child)) await rm(child, { recursive: true, force: true });
      else if ((await lstat(child)).isDirectory()) await this.#purge(child);
    }
  }

  async #whiteoutTemplate(): Promise<string> {
    if (this.#template) return this.#template;
    const path = join(dirname(this.fs.upper), `.kiln-whiteout-${randomBytes(6).toString('hex')}`);
    const r = await runTool('mknod', ['-m', '0', path, 'c', '0', '0']);
    if (!r.ok) throw new Error(`mknod whiteout: ${r.output.trim()}`);
    this.#template = path;
    return path;
  }

  async dispose(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all(this.#inflight.values());
    if (this.#template) await rm(this.#template, { force: true });
  }
}

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const piece of body) parts.push(piece);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

function mtimeOf(entry: TarEntry): number {
  return entry.mtime.sec + entry.mtime.nsec / 1e9;
}
