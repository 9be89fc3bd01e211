import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The real BuildKit daemon to compare with (BUILDKITD or /tmp/bk/buildkitd). */
export function buildkitdPath(): string | undefined {
  return [process.env.BUILDKITD, '/tmp/bk/buildkitd'].find((p): p is string => !!p && existsSync(p));
}

export interface BuildkitdProcess {
  readonly address: string;
  logs(): string;
  /** Stops the daemon and removes its state. */
  stop(): Promise<void>;
}

/**
 * Starts a real buildkitd (OCI worker, runc) with its own root and socket in a temp dir, pulling
 * from the given plain-HTTP registries.
 */
export async function startBuildkitd(opts: { registries: readonly string[] }): Promise<BuildkitdProcess> {
  const path = buildkitdPath();
  if (!path) throw new Error('no buildkitd available (set BUILDKITD)');
  const dir = await mkdtemp(join(tmpdir(), 'buildkitd-'));
  const socket = join(dir, 'buildkitd.sock');
  const config = join(dir, 'buildkitd.toml');
  await writeFile(
    config,
    [
      '[worker.oci]',
      '  enabled = true',
      '  gc = false',
      '[worker.containerd]',
      '  enabled = false',
      ...opts.registries.flatMap((host) => [`[registry."${host}"]`, '  http = true', '  insecure = true']),
      '',
    ].join('\n'),
  );
  const child = spawn(path, ['--root', join(dir, 'root'), '--addr', `unix://${socket}`, '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw new Error(`buildkitd did not start:\n${stderr}`);
    }
    await sleep(50);
  }
  return {
    address: `unix://${socket}`,
    logs: () => stderr,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
