import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from './harness.js';

/** The hand-built BuildKit v0.11.6 daemon, when present. */
export const buildkitdPath = existsSync('/tmp/bk/buildkitd') ? '/tmp/bk/buildkitd' : undefined;

export interface Buildkitd {
  readonly address: string;
  logs(): string;
  /** Stops it (SIGTERM, then SIGKILL), unmounts what it left and removes its state. */
  dispose(): Promise<void>;
}

/** Starts buildkitd on its own root and socket, with plain HTTP for `registries`. */
export async function startBuildkitd(registries: readonly string[]): Promise<Buildkitd> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-buildkitd-'));
  const socket = join(dir, 'buildkitd.sock');
  const config = join(dir, 'buildkitd.toml');
  await writeFile(
    config,
    registries.map((h) => `[registry."${h}"]\n  http = true\n  insecure = true\n`).join('\n'),
  );
  const child = spawn(
    buildkitdPath!,
    ['--root', join(dir, 'root'), '--addr', `unix://${socket}`, '--config', config, '--oci-worker=true'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-20000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const dispose = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((p) => p.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  const deadline = Date.now() + 20_000;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await dispose();
      throw new Error(`buildkitd did not start:\n${log}`);
    }
    await sleep(20);
  }
  return { address: `unix://${socket}`, logs: () => log, dispose };
}
