/**
 * Records BuildKit v0.11.6's results for the Dockerfile corpus as fixtures (test/dockerfile/
 * fixtures/<entry>.json). Run by hand, once, with a hand-built buildkitd and buildctl:
 *
 *   node dist-X/test/dockerfile/record.js [/tmp/bk/buildkitd] [entry…]
 *
 * It starts its own buildkitd (root /tmp/bkdf/root, socket /tmp/bkdf/buildkitd.sock) with the
 * corpus registry allowed over plain HTTP, builds every entry (or the ones named) exactly as the
 * corpus test does, writes the fixtures and stops the daemon. Run `npx prettier --write
 * test/dockerfile/fixtures` afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildctlPath } from '../fixtures/kilnd.js';
import { baseTrees, buildEntry, fixturesRoot, loadCorpus } from './corpus.js';
import { startCorpusEnvironment } from './environment.js';

const root = '/tmp/bkdf';

async function startBuildkitd(binary: string, registryHost: string): Promise<ChildProcess> {
  await mkdir(root, { recursive: true });
  const config = join(root, 'buildkitd.toml');
  await writeFile(config, `[registry."${registryHost}"]\n  http = true\n  insecure = true\n`);
  const socket = join(root, 'buildkitd.sock');
  await rm(socket, { force: true });
  const child = spawn(
    binary,
    ['--root', join(root, 'root'), '--addr', `unix://${socket}`, '--config', config],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  for (let i = 0; i < 300 && !existsSync(socket); i++) {
    if (child.exitCode !== null) throw new Error(`buildkitd exited:\n${log}`);
    await sleep(100);
  }
  if (!existsSync(socket)) throw new Error(`buildkitd did not start:\n${log}`);
  return child;
}

async function main(argv: string[]): Promise<void> {
  const binary = argv[0]?.startsWith('/') ? argv.shift()! : '/tmp/bk/buildkitd';
  const client = buildctlPath();
  if (!client) throw new Error('no buildctl (set BUILDCTL)');
  const wanted = new Set(argv);
  const env = await startCorpusEnvironment();
  let daemon: ChildProcess | undefined;
  try {
    daemon = await startBuildkitd(binary, env.registry.host);
    const address = `unix://${join(root, 'buildkitd.sock')}`;
    const work = join(env.dir, 'work');
    const bases = await baseTrees({ buildctl: client, address, env, work });
    await writeFile(join(fixturesRoot, '_bases.json'), `${JSON.stringify(bases, null, 1)}\n`);
    for (const entry of loadCorpus()) {
      if (wanted.size > 0 && !wanted.has(entry.name)) continue;
      const started = Date.now();
      try {
        const { log: _log, ...result } = await buildEntry({
          buildctl: client,
          address,
          env,
          entry,
          work,
          bases,
          recording: true,
        });
        await writeFile(join(fixturesRoot, `${entry.name}.json`), `${JSON.stringify(result, null, 1)}\n`);
        process.stdout.write(`${entry.name}: recorded in ${Date.now() - started} ms\n`);
      } catch (err) {
        process.stdout.write(`${entry.name}: NOT RECORDED: ${(err as Error).message}\n`);
      }
    }
  } finally {
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((resolve) => daemon!.once('exit', resolve));
    }
    await env.stop();
  }
}

await main(process.argv.slice(2));
