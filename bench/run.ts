#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { pushBusyboxIndex } from '../test/fixtures/busybox-image.js';
import { startRegistry, type TestRegistry } from '../test/fixtures/registry.js';
import { runCommand } from './command.js';
import { benchUsage, parseBenchArgs, type BenchOptions } from './options.js';
import { renderProfile, summarizeProfiles, type ProfileSummary } from './profile.js';
import { renderSummary, summarizeBench } from './report.js';
import { runBench, type EngineSpec } from './runner.js';
import type { BenchEnvironment } from './workload.js';
import { workloads as allWorkloads } from './workloads/index.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const kilnMain = join(import.meta.dirname, '..', 'daemon', 'main.js');

async function version(file: string, args: readonly string[], cwd?: string): Promise<string | undefined> {
  try {
    const { stdout } = await runCommand(file, cwd ? ['-C', cwd, ...args] : args);
    return stdout.trim();
  } catch {
    return undefined;
  }
}

function defaultBuildctl(): string {
  return existsSync('/tmp/bk/buildctl') ? '/tmp/bk/buildctl' : 'buildctl';
}

async function bench(options: BenchOptions, signal: AbortSignal): Promise<void> {
  const unknown = options.only.filter((n) => !allWorkloads.some((w) => w.name === n));
  if (unknown.length) {
    throw new Error(
      `unknown workload ${unknown.join(', ')}; known: ${allWorkloads.map((w) => w.name).join(', ')}`,
    );
  }
  const selected = options.only.length
    ? allWorkloads.filter((w) => options.only.includes(w.name))
    : allWorkloads;
  const engines: EngineSpec[] = [];
  if (!options.noKiln) engines.push({ engine: 'kiln', binary: kilnMain, nodeFlags: options.kilnNodeFlags });
  if (options.buildkitd) engines.push({ engine: 'buildkit', binary: options.buildkitd });
  const benchRoot = join(tmpdir(), 'kiln-bench');
  await mkdir(join(benchRoot, 'inputs'), { recursive: true });
  const workDir = await mkdtemp(join(benchRoot, 'run-'));
  const registries: TestRegistry[] = [];
  try {
    registries.push(await startRegistry({ auth: 'none' }), await startRegistry({ auth: 'none' }));
    const [registry, pushRegistry] = registries as [TestRegistry, TestRegistry];
    const base = await pushBusyboxIndex(registry);
    const env: BenchEnvironment = {
      registryHost: registry.host,
      pushRegistryHost: pushRegistry.host,
      baseRef: base.ref,
      pinnedBaseRef: `${base.ref}@${base.indexDigest}`,
      quick: options.quick,
      form: options.form,
      inputsDir: join(benchRoot, 'inputs'),
      workDir,
      buildctl: options.buildctl,
      signal,
    };
    const started = new Date();
    const measurements = await runBench({
      workloads: selected,
      engines,
      env,
      runs: options.runs,
      ...(options.profileDir ? { profileDir: options.profileDir } : {}),
      progress: (line) => process.stderr.write(`${line}\n`),
      signal,
    });
    const summary = summarizeBench(selected, measurements);
    const baselineNames = new Map(
      selected.flatMap((w) => (w.baselineName ? [[w.name, w.baselineName]] : [])),
    );
    process.stdout.write(`\n${renderSummary(summary, baselineNames)}\n`);
    const profiles: Record<string, ProfileSummary> = {};
    if (options.profileDir) {
      process.stdout.write('\nkilnd self time (CPU profile):\n');
      for (const w of selected) {
        const profile = await summarizeProfiles(join(options.profileDir, w.name), repoRoot);
        profiles[w.name] = profile;
        process.stdout.write(`${renderProfile(w.name, profile)}\n`);
      }
    }
    const document = {
      version: 1,
      started: started.toISOString(),
      finished: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model,
        memoryBytes: totalmem(),
        kernel: release(),
        node: process.version,
      },
      kiln: { commit: await version('git', ['rev-parse', 'HEAD'], repoRoot) },
      buildkit: options.buildkitd ? { version: await version(options.buildkitd, ['--version']) } : undefined,
      buildctl: { path: options.buildctl, version: await version(options.buildctl, ['--version']) },
      options: {
        runs: options.runs,
        quick: options.quick,
        form: options.form,
        only: options.only,
        kilnNodeFlags: options.kilnNodeFlags,
      },
      workloads: selected.map((w) => ({
        name: w.name,
        title: w.title,
        baseline: w.baselineName,
        targets: w.targets,
      })),
      summary,
      profiles,
      measurements,
    };
    await mkdir(dirname(options.out), { recursive: true });
    await writeFile(options.out, `${JSON.stringify(document, null, 2)}\n`);
    process.stderr.write(`results written to ${options.out}\n`);
  } finally {
    for (const r of registries) await r.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv, process.env, {
      out: join(repoRoot, 'bench', 'results', 'latest.json'),
      buildctl: defaultBuildctl(),
    });
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${benchUsage}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(benchUsage);
    return 0;
  }
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await bench(options, controller.signal);
    return 0;
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
