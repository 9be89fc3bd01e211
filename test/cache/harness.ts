import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { toBinary } from '@bufbuild/protobuf';
import { marshal, type State } from '../../llb/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { buildctl, type BuildctlResult } from '../fixtures/buildctl.js';

export const run = promisify(execFile);

/** Runs `buildctl build` with LLB on stdin; fails the test with the daemon's log tail on error. */
export async function build(
  address: string,
  state: State,
  args: readonly string[],
  logs: () => string = () => '',
): Promise<BuildctlResult> {
  const result = await buildctl(
    address,
    ['build', '--progress', 'plain', ...args],
    toBinary(DefinitionSchema, marshal(state)),
  );
  assert.equal(result.code, 0, `buildctl failed:\n${result.stderr}\n${logs().slice(-4000)}`);
  return result;
}

/** Plain progress, per vertex: its name and whether it was CACHED (synthetic export lines excluded). */
export function steps(stderr: string): Array<{ name: string; cached: boolean }> {
  const names = new Map<string, string>();
  const cached = new Set<string>();
  for (const line of stderr.split('\n')) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const [, id, rest] = m as unknown as [string, string, string];
    // Log lines carry a time in seconds; the first other line of a vertex is its name.
    if (/^\d+\.\d+ /.test(rest)) continue;
    if (!names.has(id)) names.set(id, rest);
    if (rest === 'CACHED') cached.add(id);
  }
  const synthetic = /^(exporting|importing|preparing|sending|writing|copying|resolve image config)/;
  return [...names]
    .filter(([, name]) => !synthetic.test(name) && !name.startsWith('['))
    .map(([id, name]) => ({ name, cached: cached.has(id) }));
}

/** Every step of a build's progress was CACHED (and there was at least one). */
export function assertAllCached(stderr: string, expected: number): void {
  const list = steps(stderr);
  assert.equal(list.length, expected, `expected ${expected} steps:\n${stderr}`);
  const ran = list.filter((s) => !s.cached);
  assert.deepEqual(ran, [], `steps that were not CACHED:\n${stderr}`);
}

/** A directory tree as `path mode size sha256|link` lines (no times), to compare results. */
export async function treeListing(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const s = await lstat(join(root, path));
      let what = '';
      if (s.isSymbolicLink()) what = `-> ${await readlink(join(root, path))}`;
      else if (s.isFile())
        what = createHash('sha256')
          .update(await readFile(join(root, path)))
          .digest('hex');
      out.push(`${path} ${(s.mode & 0o7777).toString(8)} ${s.isFile() ? s.size : 0} ${what}`);
      if (s.isDirectory()) await walk(path);
    }
  };
  await walk('');
  return out;
}
