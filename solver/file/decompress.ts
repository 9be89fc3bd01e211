import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DecompressStream } from 'zstd-napi';

/** The compressions Docker's ADD recognises by their magic bytes. */
export type ArchiveCompression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

/** Docker's DetectCompression over the first bytes of a file (bzip2, gzip, xz, zstd, in that order). */
export function detectCompression(head: Uint8Array): ArchiveCompression {
  const starts = (magic: number[]): boolean => magic.every((b, i) => head[i] === b);
  if (starts([0x42, 0x5a, 0x68])) return 'bzip2';
  if (starts([0x1f, 0x8b, 0x08])) return 'gzip';
  if (starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  if (starts([0x28, 0xb5, 0x2f, 0xfd])) return 'zstd';
  // A zstd skippable frame: magic 0x184D2A50..5F (little endian), then a 4-byte size.
  if (
    head.length >= 8 &&
    ((head[0] as number) & 0xf0) === 0x50 &&
    starts([head[0] as number, 0x2a, 0x4d, 0x18])
  ) {
    return 'zstd';
  }
  return 'none';
}

/** The first `length` bytes of a file (fewer when it is shorter). */
export async function readHead(path: string, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * The decompressed bytes of `path`. gzip and zstd decode in process; bzip2 and xz run the system
 * `bzip2`/`xz` tools (Docker runs `xz` too), whose failure surfaces as a stream error. Aborting
 * `signal` destroys the stream and kills the tool.
 */
export function decompressFile(
  path: string,
  compression: ArchiveCompression,
  signal?: AbortSignal,
): Readable {
  const file = (): Readable => createReadStream(path, signal === undefined ? {} : { signal });
  switch (compression) {
    case 'none':
      return file();
    case 'gzip':
      return pipeInto(file(), createGunzip());
    case 'zstd':
      return pipeInto(file(), new DecompressStream());
    case 'bzip2':
    case 'xz':
      return runTool(compression, path, signal);
  }
}

function pipeInto(source: Readable, transform: NodeJS.ReadWriteStream & Readable): Readable {
  source.on('error', (err) => transform.destroy(err));
  return source.pipe(transform);
}

function runTool(tool: 'bzip2' | 'xz', path: string, signal?: AbortSignal): Readable {
  const out = new PassThrough();
  const child = spawn(tool, ['-d', '-c', '-q', '--', path], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(signal === undefined ? {} : { signal }),
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 4096) stderr += chunk;
  });
  child.stdout.pipe(out, { end: false });
  let stdoutDone = false;
  let exit: number | null | undefined;
  const finish = (): void => {
    if (!stdoutDone || exit === undefined) return;
    if (exit === 0) out.end();
    else out.destroy(new Error(`${tool} -d failed (${exit ?? 'killed'}): ${stderr.trim()}`));
  };
  child.stdout.on('end', () => {
    stdoutDone = true;
    finish();
  });
  child.on('error', (err) => out.destroy(err));
  child.on('close', (code) => {
    exit = code;
    stdoutDone = true;
    finish();
  });
  // A consumer that stops early (only the first header is needed to detect an archive).
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}
