import { createCipheriv } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The shape of a generated build context. */
export interface ContextShape {
  /** Number of regular files. */
  readonly files: number;
  /** Their total size, approximately (within a few per cent). */
  readonly bytes: number;
}

/** The context: 5,000 files, about 59 MB. */
export const fullContext: ContextShape = { files: 5000, bytes: 59 * 1000 * 1000 };
/** `--quick`: a tenth of it. */
export const quickContext: ContextShape = { files: 500, bytes: 6 * 1000 * 1000 };

/** Deterministic bytes: AES-128-CTR over zeros with a fixed key, so every run makes the same tree. */
function stream(seed: number): (n: number) => Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return (n) => cipher.update(Buffer.alloc(n));
}

/** Text-like content (base64 lines), so it compresses about as much as source code does. */
function textOf(random: Buffer): Buffer {
  const b64 = random.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return Buffer.from(`${lines.join('\n')}\n`);
}

/**
 * The sizes of the files: most small (as in a source tree), one in a hundred large, scaled so
 * they add up to `shape.bytes`.
 */
export function fileSizes(shape: ContextShape): number[] {
  const random = stream(7)(shape.files * 4);
  const raw = Array.from({ length: shape.files }, (_, i) => {
    const r = random.readUInt32BE(i * 4) / 2 ** 32;
    return i % 100 === 99 ? 40 + 40 * r : 0.2 + 2 * r;
  });
  const total = raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => Math.max(1, Math.round((w / total) * shape.bytes)));
}

/** Relative path of file `i`: 100 files per directory, nested two deep. */
export function filePath(i: number): string {
  const d = Math.floor(i / 100);
  return join(`pkg${Math.floor(d / 10)}`, `mod${d % 10}`, `file${i % 100}.txt`);
}

/**
 * Makes (once per machine, under `cacheRoot`) a directory with `shape.files` files of about
 * `shape.bytes` in total, and returns it. Callers that change files must restore them
 * (`changeOneFile` returns the restore function). Costs about a second for the full shape.
 */
export async function contextTree(cacheRoot: string, shape: ContextShape): Promise<string> {
  const dir = join(cacheRoot, `context-${shape.files}-${shape.bytes}-v1`);
  // The marker sits beside the tree, not in it: everything inside is sent as the context.
  const marker = `${dir}.complete`;
  if (existsSync(marker)) return dir;
  const work = `${dir}.tmp-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  const sizes = fileSizes(shape);
  const next = stream(11);
  for (let i = 0; i < sizes.length; i++) {
    const path = join(work, filePath(i));
    if (i % 100 === 0) await mkdir(join(path, '..'), { recursive: true });
    // base64 grows 4/3 plus newlines; draw 3/4 of the target and trim.
    const text = textOf(next(Math.ceil((sizes[i]! * 3) / 4)));
    await writeFile(path, text.subarray(0, sizes[i]!));
  }
  await rm(dir, { recursive: true, force: true });
  await rename(work, dir);
  await writeFile(marker, '');
  return dir;
}

/** Appends a line to one file of the tree; the returned function puts its old content back. */
export async function changeOneFile(dir: string, marker: string): Promise<() => Promise<void>> {
  const path = join(dir, filePath(0));
  const before = await readFile(path);
  await writeFile(path, Buffer.concat([before, Buffer.from(`changed ${marker}\n`)]));
  return () => writeFile(path, before);
}
