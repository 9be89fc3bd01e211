// Records what a real BuildKit makes of each FileOp definition, as fixtures for file-op tests.
// Not run by the tests. Usage (as root, with buildkitd running):
//   node dist-fileop/solver/file/testdata/record-fixtures.js BUILDCTL ADDR DEFS.json WORKDIR OUT.json [NAME…]
// DEFS.json is [{ name, definition (base64 pb.Definition) }] made with BuildKit's Go client.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { extract } from 'tar-stream';
import { type ContextEntry, type ListedEntry, knownTime, materialize } from '../test-support.js';

const run = promisify(execFile);

interface Recorded {
  name: string;
  definition: string;
  buildkit: { ok: true; listing: ListedEntry[] } | { ok: false; error: string };
}

async function main(): Promise<void> {
  const [buildctl, addr, defsPath, work, outPath, ...only] = process.argv.slice(2);
  if (
    buildctl === undefined ||
    addr === undefined ||
    defsPath === undefined ||
    work === undefined ||
    outPath === undefined
  ) {
    throw new Error('usage: record-fixtures BUILDCTL ADDR DEFS.json WORKDIR OUT.json [NAME…]');
  }
  const testdata = dirname(fileURLToPath(import.meta.url)).replace('/dist-fileop/', '/');
  const spec = JSON.parse(await readFile(join(testdata, 'context.json'), 'utf8')) as {
    entries: ContextEntry[];
  };
  await rm(work, { recursive: true, force: true });
  const ctx = join(work, 'ctx');
  await mkdir(ctx, { recursive: true });
  await materialize(spec.entries, ctx, testdata);
  const defs = JSON.parse(await readFile(defsPath, 'utf8')) as { name: string; definition: string }[];
  const wanted = defs.filter((d) => only.length === 0 || only.includes(d.name));
  const out: Recorded[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < wanted.length) {
      const d = wanted[next++] as { name: string; definition: string };
      const defFile = join(work, `${d.name}.def`);
      const dest = join(work, `${d.name}.tar`);
      await writeFile(defFile, Buffer.from(d.definition, 'base64'));
      const args = [
        '--addr',
        addr,
        'build',
        '--progress=plain',
        '--local',
        `ctx=${ctx}`,
        '--output',
        `type=tar,dest=${dest}`,
      ];
      try {
        await run('sh', ['-c', `"$0" "$@" < "${defFile}"`, buildctl, ...args], { maxBuffer: 64 << 20 });
        out.push({
          name: d.name,
          definition: d.definition,
          buildkit: { ok: true, listing: await listTar(dest) },
        });
      } catch (err) {
        const stderr = String((err as { stderr?: string }).stderr ?? err);
        const line =
          stderr
            .split('\n')
            .reverse()
            .find((l) => l.startsWith('error:')) ?? stderr.slice(-300);
        out.push({ name: d.name, definition: d.definition, buildkit: { ok: false, error: line } });
      }
      process.stdout.write(`${d.name}: ${out[out.length - 1]?.buildkit.ok ? 'ok' : 'error'}\n`);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  out.sort((a, b) => defs.findIndex((d) => d.name === a.name) - defs.findIndex((d) => d.name === b.name));
  const doc = {
    comment:
      'Trees BuildKit v0.11.6 (buildkitd + buildctl, local exporter) produced for each FileOp definition; made by record-fixtures.ts. Only mtimes equal to a timestamp the fixtures set are recorded.',
    cases: out,
  };
  await writeFile(outPath, `${JSON.stringify(doc, null, 1)}\n`);
}

/**
 * The listing of a tar from BuildKit's tar exporter (which, unlike the local exporter, keeps
 * owners): the same shape test-support's listTree gives for a directory.
 */
async function listTar(path: string): Promise<ListedEntry[]> {
  const out = new Map<string, ListedEntry>();
  const links: { path: string; target: string }[] = [];
  const types: Record<string, ListedEntry['type']> = {
    file: 'file',
    directory: 'dir',
    symlink: 'symlink',
    fifo: 'fifo',
    'character-device': 'char',
    'block-device': 'block',
  };
  for await (const entry of createReadStream(path).pipe(extract())) {
    const h = entry.header;
    const p = `/${h.name.replace(/\/$/, '')}`;
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of entry) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    const e: ListedEntry = { path: p, type: types[h.type] ?? 'file', uid: h.uid, gid: h.gid };
    if (h.type !== 'symlink') e.mode = (h.mode & 0o7777).toString(8).padStart(4, '0');
    if (h.type === 'file') {
      e.size = size;
      e.sha256 = hash.digest('hex');
    }
    if (h.type === 'symlink') e.target = h.linkname;
    if (h.type === 'character-device' || h.type === 'block-device') e.rdev = `${h.devmajor}:${h.devminor}`;
    const xattrs: Record<string, string> = {};
    for (const [k, v] of Object.entries((h.pax ?? {}) as Record<string, string>)) {
      if (k.startsWith('SCHILY.xattr.') && !k.startsWith('SCHILY.xattr.security.')) xattrs[k.slice(13)] = v;
    }
    if (Object.keys(xattrs).length > 0) e.xattrs = xattrs;
    const known = knownTime(h.mtime.getTime() / 1000);
    if (known !== undefined) e.mtime = known;
    if (h.type === 'link') links.push({ path: p, target: `/${h.linkname}` });
    out.set(p, e);
  }
  // Hardlinks: the entry takes its target's content; the group is named by its first sorted path.
  const groups = new Map<string, string[]>();
  for (const { path: p, target } of links) {
    const t = out.get(target) as ListedEntry;
    const e = out.get(p) as ListedEntry;
    Object.assign(e, { type: 'file', size: t.size, sha256: t.sha256 });
    groups.set(target, [...(groups.get(target) ?? [target]), p]);
  }
  for (const members of groups.values()) {
    const first = [...members].sort()[0] as string;
    for (const m of members) if (m !== first) (out.get(m) as ListedEntry).hardlink = first;
  }
  return [...out.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

await main();
