import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { testDaemons } from './testing/daemon.js';
import { startEnvironment, type TestEnvironment } from './testing/environment.js';

// Runs the examples of docs/sdk.md as written: each `<!-- example: name -->` TypeScript block is
// transpiled, its `kiln` / `kiln/llb` imports pointed at this build, and its function called
// against a real daemon and a local registry.

const run = promisify(execFile);
const docPath = new URL('../../docs/sdk.md', import.meta.url);
const distRoot = new URL('../', import.meta.url);

async function loadExample(name: string, dir: string): Promise<Record<string, unknown>> {
  const doc = await readFile(docPath, 'utf8');
  const m = new RegExp(`<!-- example: ${name} -->\\n+\`\`\`ts\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
  assert.ok(m, `docs/sdk.md has no example ${name}`);
  const js = ts
    .transpileModule(m[1]!, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    })
    .outputText.replaceAll("from 'kiln/llb'", `from '${new URL('llb/index.js', distRoot).href}'`)
    .replaceAll("from 'kiln'", `from '${new URL('client/index.js', distRoot).href}'`);
  const file = join(dir, `${name}.mjs`);
  await writeFile(file, js);
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

describe('docs/sdk.md examples', () => {
  it('are present and transpile', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-sdk-'));
    try {
      const one = await loadExample('build-and-push', dir);
      const two = await loadExample('llb-build', dir);
      assert.equal(typeof one['buildAndPush'], 'function');
      assert.equal(typeof two['buildWithLlb'], 'function');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

for (const { kind, skip } of testDaemons()) {
  describe(`docs/sdk.md examples against ${kind}`, { skip }, () => {
    let env: TestEnvironment;
    let dir: string;
    before(async () => {
      env = await startEnvironment(kind);
      dir = await mkdtemp(join(tmpdir(), 'kiln-sdk-'));
    });
    after(async () => {
      await env?.dispose();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('example 1 builds a Dockerfile and pushes the image to the registry', async () => {
      const { buildAndPush } = (await loadExample('build-and-push', dir)) as {
        buildAndPush: (o: {
          address: string;
          contextDir: string;
          imageName: string;
          insecure?: boolean;
        }) => Promise<string>;
      };
      const contextDir = await env.context('app', {
        Dockerfile: `FROM ${env.busybox.ref}\nARG GREETING\nCOPY app.txt /app.txt\nRUN echo "$GREETING" > /greeting\n`,
        'app.txt': 'app\n',
      });
      const imageName = `${env.registry.host}/team/app:1.0`;
      const digest = await buildAndPush({
        address: env.daemon.address,
        contextDir,
        imageName,
        insecure: true,
      });
      assert.match(digest, /^sha256:[a-f0-9]{64}$/);
      const manifest = await run('skopeo', [
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${imageName}`,
      ]);
      assert.equal(`sha256:${createHash('sha256').update(manifest.stdout).digest('hex')}`, digest);
      const layers = (JSON.parse(manifest.stdout) as { layers: unknown[] }).layers;
      assert.ok(layers.length >= 3, 'base layer + COPY + RUN');
    });

    it('example 2 builds an LLB graph with a local source into a directory', async () => {
      const { buildWithLlb } = (await loadExample('llb-build', dir)) as {
        buildWithLlb: (o: {
          address: string;
          baseImage: string;
          sourceDir: string;
          outputDir: string;
        }) => Promise<string>;
      };
      const sourceDir = await env.context('src', { 'a.txt': 'aaa', 'b.txt': 'bb' });
      const outputDir = join(dir, 'llb-out');
      const ref = await buildWithLlb({
        address: env.daemon.address,
        baseImage: env.busybox.ref,
        sourceDir,
        outputDir,
      });
      assert.match(ref, /^[a-z0-9]{25}$/);
      assert.equal(await readFile(join(outputDir, 'listing.txt'), 'utf8'), 'a.txt\nb.txt\n');
      assert.match(await readFile(join(outputDir, 'sizes.txt'), 'utf8'), /3 \/src\/a.txt\n\s*2 \/src\/b.txt/);
    });
  });
}
