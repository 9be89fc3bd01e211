/**
 * Test support for the executor's own tests (not exported from index.ts): writable overlay rootfs
 * over the shared busybox fixture, and default run options.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { type BusyboxArch, busyboxRootfs } from '../test/fixtures/busybox.js';
import type { Mount } from '../snapshotter/index.js';
import type { RunOptions } from './index.js';

const exec = promisify(execFile);

/** A throw-away overlay of the busybox rootfs: `upper` receives every change a step makes. */
export interface TestRootfs {
  readonly mounts: Mount[];
  readonly lower: string;
  readonly upper: string;
  readonly dir: string;
  dispose(): Promise<void>;
}

export async function overlayRootfs(arch: BusyboxArch = 'amd64'): Promise<TestRootfs> {
  const lower = await busyboxRootfs(arch);
  const dir = await mkdtemp(join(tmpdir(), 'kiln-exec-test-'));
  const upper = join(dir, 'upper');
  const work = join(dir, 'work');
  await mkdir(upper);
  await mkdir(work);
  return {
    mounts: [
      {
        type: 'overlay',
        source: 'overlay',
        options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`],
      },
    ],
    lower,
    upper,
    dir,
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A plain directory holding a copy of the busybox rootfs (a "native" snapshot). */
export async function copiedRootfs(
  arch: BusyboxArch = 'amd64',
): Promise<{ dir: string; dispose(): Promise<void> }> {
  const lower = await busyboxRootfs(arch);
  const dir = await mkdtemp(join(tmpdir(), 'kiln-exec-test-'));
  await exec('cp', ['-a', `${lower}/.`, dir]);
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** Collected output of a run. */
export interface Captured {
  readonly stdout: PassThrough;
  readonly stderr: PassThrough;
  out(): string;
  err(): string;
}

export function capture(): Captured {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  stdout.on('data', (c: Buffer) => o.push(c));
  stderr.on('data', (c: Buffer) => e.push(c));
  return {
    stdout,
    stderr,
    out: () => Buffer.concat(o).toString('utf8'),
    err: () => Buffer.concat(e).toString('utf8'),
  };
}

export function runOptions(
  rootfs: readonly Mount[],
  io: Captured,
  extra: Partial<RunOptions> = {},
): RunOptions {
  return {
    rootfs,
    mounts: [],
    platform: { os: 'linux', architecture: 'amd64' },
    network: 'sandbox',
    security: 'sandbox',
    stdout: io.stdout,
    stderr: io.stderr,
    ...extra,
  };
}

/** Every file under `dir` whose content contains `needle` (for "no secret left behind" checks). */
export async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath ?? e.path, e.name);
    const content = await readFile(path).catch(() => Buffer.alloc(0));
    if (content.includes(needle)) found.push(path);
  }
  return found;
}

/** Pids of processes whose command line contains `marker`. */
export async function processesWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(marker)) pids.push(Number(name));
  }
  return pids;
}
