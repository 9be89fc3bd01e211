import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { buildctl } from '../fixtures/buildctl.js';

/** The repository root (tests run from dist-NAME/test/gateway). */
export const repoRoot = new URL('../../../', import.meta.url).pathname;

const importPattern =
  /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The compiled modules `entry` loads (relative imports, transitively) and the packages it needs. */
export async function moduleClosure(entry: string): Promise<{ files: string[]; packages: string[] }> {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [resolve(entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const source = await readFile(file, 'utf8');
    for (const m of source.matchAll(importPattern)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      if (spec.startsWith('.')) pending.push(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:')) {
        const parts = spec.split('/');
        packages.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
      }
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/**
 * A frontend image's build context, as frontend/Dockerfile describes it: `dist/` with exactly
 * the compiled modules `entry` loads (paths relative to `distRoot`), `node_modules/` with the
 * packages they import, and a package.json making the modules ESM.
 */
export async function frontendContext(opts: { distRoot: string; entry: string; dir: string }): Promise<void> {
  const { files, packages } = await moduleClosure(join(opts.distRoot, opts.entry));
  for (const file of files) {
    const to = join(opts.dir, 'dist', relative(opts.distRoot, file));
    await mkdir(dirname(to), { recursive: true });
    await cp(file, to);
  }
  for (const pkg of packages) {
    await cp(join(repoRoot, 'node_modules', pkg), join(opts.dir, 'node_modules', pkg), { recursive: true });
  }
  await writeFile(join(opts.dir, 'package.json'), '{"type":"module"}\n');
}

/**
 * Builds a frontend image through kilnd with the real buildctl (dockerfile.v0 on `dockerfileDir`,
 * NODE_IMAGE as the base) and pushes it as `name`.
 */
export async function buildFrontendImage(opts: {
  address: string;
  nodeImage: string;
  distRoot: string;
  entry: string;
  dockerfileDir: string;
  name: string;
  work: string;
}): Promise<void> {
  const context = join(opts.work, `context-${opts.name.replace(/[^a-z0-9]+/gi, '-')}`);
  await frontendContext({ distRoot: opts.distRoot, entry: opts.entry, dir: context });
  const r = await buildctl(opts.address, [
    'build',
    '--progress=plain',
    '--frontend',
    'dockerfile.v0',
    '--local',
    `context=${context}`,
    '--local',
    `dockerfile=${opts.dockerfileDir}`,
    '--opt',
    `build-arg:NODE_IMAGE=${opts.nodeImage}`,
    '--output',
    `type=image,name=${opts.name},push=true`,
  ]);
  if (r.code !== 0) throw new Error(`building ${opts.name} failed:\n${r.stderr}`);
}
