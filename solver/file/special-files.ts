import { execFile } from 'node:child_process';
import type { Stats } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A file that is neither regular, directory nor symbolic link. */
export interface SpecialFile {
  readonly type: 'fifo' | 'char' | 'block' | 'socket';
  readonly major: number;
  readonly minor: number;
}

/** The special-file description of an lstat result. */
export function specialOf(st: Stats): SpecialFile {
  const type = st.isFIFO()
    ? 'fifo'
    : st.isCharacterDevice()
      ? 'char'
      : st.isBlockDevice()
        ? 'block'
        : 'socket';
  const dev = BigInt(st.rdev);
  // Linux's encoding of a device number (glibc gnu_dev_major / gnu_dev_minor).
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return { type, major: Number(major), minor: Number(minor) };
}

/**
 * Creates a fifo, character or block device at `target` (Node has no mknod, so this runs
 * coreutils' `mknod`; such files are rare in build trees). A socket becomes an empty regular
 * file, as BuildKit's copier leaves it. Permissions and owner are set by the caller.
 */
export async function makeSpecial(target: string, file: SpecialFile): Promise<void> {
  if (file.type === 'fifo') {
    await run('mknod', ['-m', '0600', '--', target, 'p']);
  } else if (file.type === 'char' || file.type === 'block') {
    await run('mknod', [
      '-m',
      '0600',
      '--',
      target,
      file.type === 'char' ? 'c' : 'b',
      `${file.major}`,
      `${file.minor}`,
    ]);
  } else {
    await writeFile(target, '', { flag: 'wx', mode: 0o600 });
  }
}
