import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One line per file of an exported tree, without times:
 * `path type mode uid:gid [size sha256 | -> target]` (type f, d, l or o; mode in octal with the
 * setuid/setgid/sticky bits). Directories carry no size.
 */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      const st = await lstat(path);
      const mode = (st.mode & 0o7777).toString(8);
      const owner = `${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out.push(`${rel} l ${mode} ${owner} -> ${await readlink(path)}`);
      else if (st.isDirectory()) {
        out.push(`${rel} d ${mode} ${owner}`);
        await walk(path, rel);
      } else if (st.isFile()) {
        const sum = createHash('sha256')
          .update(await readFile(path))
          .digest('hex');
        out.push(`${rel} f ${mode} ${owner} ${st.size} ${sum}`);
      } else out.push(`${rel} o ${mode} ${owner}`);
    }
  };
  await walk(root, '');
  return out;
}

/** A tree as the lines that differ from a base tree: added or changed lines, and removed paths. */
export interface TreeDelta {
  readonly base: string | null;
  readonly changed: readonly string[];
  readonly removed: readonly string[];
}

const pathOf = (line: string): string => line.slice(0, line.indexOf(' '));

/** `tree` relative to `base` (named `baseName`), or in full when `base` is undefined. */
export function treeDelta(
  tree: readonly string[],
  base: readonly string[] | undefined,
  baseName: string,
): TreeDelta {
  if (!base) return { base: null, changed: [...tree], removed: [] };
  const before = new Set(base);
  const paths = new Set(tree.map(pathOf));
  return {
    base: baseName,
    changed: tree.filter((l) => !before.has(l)),
    removed: base.map(pathOf).filter((p) => !paths.has(p)),
  };
}
