import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../test/fixtures/free-port.js';
import { startKilnd } from '../../test/fixtures/kilnd.js';

/**
 * A daemon the client suites run against. Test-only; not exported from client/index.ts.
 */
export interface TestDaemon {
  readonly kind: TestDaemonKind;
  readonly address: string;
  /** Stops the daemon and removes its state. Idempotent. */
  stop(): Promise<void>;
  logs(): string;
}

export type TestDaemonKind = 'kilnd' | 'buildkitd';

export function buildkitdPath(): string | undefined {
  return [process.env['BUILDKITD'], '/tmp/bk/buildkitd'].find((p): p is string => !!p && existsSync(p));
}

/**
 * The daemons every client suite runs against in one test run, each with why it is skipped on
 * this machine (or false): kilnd always, and a real buildkitd v0.11.6 (`BUILDKITD=/path`, default
 * /tmp/bk/buildkitd) when one is there, so the same assertions hold for both.
 * `KILNCTL_TEST_DAEMON=kilnd|buildkitd` narrows the run to one.
 */
export function testDaemons(): Array<{ kind: TestDaemonKind; skip: string | false }> {
  const only = process.env['KILNCTL_TEST_DAEMON'];
  const root = process.getuid?.() === 0 ? false : 'runc and buildkitd need root';
  const daemons: Array<{ kind: TestDaemonKind; skip: string | false }> = [
    { kind: 'kilnd', skip: root },
    {
      kind: 'buildkitd',
      skip: root || (buildkitdPath() ? false : 'no buildkitd at /tmp/bk/buildkitd (set BUILDKITD)'),
    },
  ];
  return daemons.filter((d) => !only || d.kind === only);
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

export async function startTestDaemon(
  kind: TestDaemonKind,
  options: { tls?: TestDaemonTls } = {},
): Promise<TestDaemon> {
  if (kind === 'kilnd') {
    if (options.tls) throw new Error('startTestDaemon: TLS is only set up for buildkitd');
    const kilnd = await startKilnd();
    // The socket answers before the daemon is ready (calls wait for it), but health says
    // NOT_SERVING until then, and a builder file's router skips such a node.
    const deadline = Date.now() + 20_000;
    while (!kilnd.logs().includes('kilnd ready')) {
      if (kilnd.child.exitCode !== null || Date.now() > deadline) {
        await kilnd.dispose();
        throw new Error(`kilnd did not get ready:\n${kilnd.logs()}`);
      }
      await sleep(20);
    }
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
