import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../test/fixtures/free-port.js';
import { startKilnd } from '../../test/fixtures/kilnd.js';

/**
 * The daemon the client suites run against: a real buildkitd v0.11.6 by default
 * (`BUILDKITD=/path`, default /tmp/bk/buildkitd), or kilnd when `KILNCTL_TEST_DAEMON=kilnd`
 * (the integrator's switch). Test-only; not exported from client/index.ts.
 */
export interface TestDaemon {
  readonly kind: 'buildkitd' | 'kilnd';
  readonly address: string;
  /** Stops the daemon and removes its state. Idempotent. */
  stop(): Promise<void>;
  logs(): string;
}

export function buildkitdPath(): string | undefined {
  return [process.env['BUILDKITD'], '/tmp/bk/buildkitd'].find((p): p is string => !!p && existsSync(p));
}

/** Why the daemon suites are skipped on this machine, or false when they can run. */
export function daemonSkipReason(): string | false {
  if (process.env['KILNCTL_TEST_DAEMON'] === 'kilnd') return false;
  if (process.getuid?.() !== 0) return 'buildkitd needs root';
  return buildkitdPath()
    ? false
    : 'no buildkitd at /tmp/bk/buildkitd (set BUILDKITD, or KILNCTL_TEST_DAEMON=kilnd)';
}

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  const exited = new Promise<boolean>((resolve) => child.once('exit', () => resolve(true)));
  return Promise.race([exited, sleep(ms).then(() => false)]);
}

/** Serve on tcp://127.0.0.1 with mutual TLS instead of a unix socket (buildkitd only). */
export interface TestDaemonTls {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export async function startTestDaemon(options: { tls?: TestDaemonTls } = {}): Promise<TestDaemon> {
  if (process.env['KILNCTL_TEST_DAEMON'] === 'kilnd' && !options.tls) {
    const kilnd = await startKilnd();
    return { kind: 'kilnd', address: kilnd.address, stop: () => kilnd.dispose(), logs: () => kilnd.logs() };
  }
  const binary = buildkitdPath();
  if (!binary) throw new Error('no buildkitd binary');
  const dir = await mkdtemp(join(tmpdir(), 'kilnctl-buildkitd-'));
  const address = options.tls
    ? `tcp://127.0.0.1:${await freePort()}`
    : `unix://${join(dir, 'buildkitd.sock')}`;
  const tlsArgs = options.tls
    ? ['--tlscert', options.tls.cert, '--tlskey', options.tls.key, '--tlscacert', options.tls.ca]
    : [];
  const child = spawn(binary, ['--root', join(dir, 'root'), '--addr', address, ...tlsArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    if (!(await waitForExit(child, 10_000))) {
      child.kill('SIGKILL');
      await waitForExit(child, 5_000);
    }
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };
  const deadline = Date.now() + 20_000;
  while (!stderr.includes('running server on')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`buildkitd did not start:\n${stderr}`);
    }
    await sleep(50);
  }
  return { kind: 'buildkitd', address, stop, logs: () => stderr };
}
