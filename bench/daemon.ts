import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCommand } from './command.js';
import { DaemonStartError } from './errors.js';

/** The two build daemons compared, plus the plain tools some workloads measure against. */
export type Engine = 'kiln' | 'buildkit';

/** A daemon started by the runner with an empty state directory. */
export interface BenchDaemon {
  readonly engine: Engine;
  /** `unix:///…/daemon.sock`, for buildctl's --addr. */
  readonly address: string;
  readonly pid: number;
  readonly root: string;
  /** The tail of what the daemon wrote to stderr. */
  logs(): string;
  /**
   * SIGTERM (which lets kilnd write its CPU profile), SIGKILL after 20 s, then unmounts what it
   * left mounted and removes its directory (unless `keepState`).
   */
  stop(): Promise<void>;
}

export interface DaemonSpec {
  readonly engine: Engine;
  /** kilnd: the compiled daemon/main.js; buildkit: the buildkitd binary. */
  readonly binary: string;
  readonly buildctl: string;
  /** `127.0.0.1:PORT` of the plain-HTTP registries both daemons pull from and push to. */
  readonly registryHosts: readonly string[];
  /** Write a V8 CPU profile of kilnd here when it stops (`--cpu-prof`). */
  readonly profileDir?: string;
  /** More node flags for kilnd. */
  readonly nodeFlags?: readonly string[];
  /** Where the daemon's directory is made (default: the system's temporary directory). */
  readonly parentDir?: string;
  /**
   * Leave the state directory in place on stop, for the caller to remove later. ext4 makes file
   * creation slow for a minute or more after thousands of files were deleted nearby (its inode
   * allocator checks each recently freed inode, about 0.5 ms a file here): removing one daemon's
   * 10,000 files just before the next daemon's build would charge that build for the clean-up.
   */
  readonly keepState?: boolean;
  readonly signal?: AbortSignal;
}

const logLimit = 64 * 1024;

function configToml(registryHosts: readonly string[]): string {
  return [...new Set(registryHosts)]
    .map((host) => `[registry."${host}"]\nhttp = true\ninsecure = true\n`)
    .join('\n');
}

/** Mount points at or below `dir`, deepest first, from this process's mount table. */
function mountsBelow(dir: string): string[] {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const points = lines
    .map((line) => line.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return points.sort((a, b) => b.length - a.length);
}

/**
 * Starts `spec.engine` on a fresh state directory and waits until buildctl can talk to it
 * (`buildctl debug workers` succeeds). Costs a process start (≈ 0.3–1 s). Throws DaemonStartError
 * when it exits or does not answer within 30 s.
 */
export async function startDaemon(spec: DaemonSpec): Promise<BenchDaemon> {
  const dir = await mkdtemp(join(spec.parentDir ?? tmpdir(), `kiln-bench-${spec.engine}-`));
  const root = join(dir, 'root');
  const socket = join(dir, 'daemon.sock');
  const address = `unix://${socket}`;
  const config = join(dir, 'config.toml');
  await writeFile(config, configToml(spec.registryHosts));
  const args = ['--addr', address, '--root', root, '--config', config];
  const env = { ...process.env };
  let file = spec.binary;
  if (spec.engine === 'kiln') {
    file = process.execPath;
    // Node 20 refuses --cpu-prof in NODE_OPTIONS; it goes on the command line. NODE_OPTIONS is
    // cleared so flags meant for the runner do not leak into the daemon.
    args.unshift(
      ...(spec.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${spec.profileDir}`] : []),
      ...(spec.nodeFlags ?? []),
      spec.binary,
    );
    env.NODE_OPTIONS = '';
  }
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let log = '';
  child.stderr!.on('data', (c: Buffer) => {
    log = (log + c.toString('utf8')).slice(-logLimit);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = sleep(20_000).then(() => child.kill('SIGKILL'));
      await Promise.race([exited, killed]);
      await exited;
    }
    for (const point of mountsBelow(dir)) {
      await runCommand('umount', ['-l', point]).catch(() => {});
    }
    if (!spec.keepState) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  try {
    const deadline = Date.now() + 30_000;
    while (!existsSync(socket)) {
      spec.signal?.throwIfAborted();
      if (child.exitCode !== null || Date.now() > deadline) throw new DaemonStartError(spec.engine, log);
      await sleep(10);
    }
    await runCommand(spec.buildctl, ['--addr', address, 'debug', 'workers'], {
      ...(spec.signal ? { signal: spec.signal } : {}),
    }).catch((cause: unknown) => {
      throw new DaemonStartError(spec.engine, log, { cause });
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { engine: spec.engine, address, pid: child.pid!, root, logs: () => log, stop };
}
