#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { runCli } from './cli/run-cli.js';

/** kilnctl: a buildctl-compatible command line for kilnd (and buildkitd). */

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const abort = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => abort.abort(new Error(`received ${signal}`)));
}

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  signal: abort.signal,
  version: packageVersion(),
});

// A cancelled build leaves calls the daemon has yet to end (up to seconds later); like buildctl,
// kilnctl exits once its own work is done, after its output has reached stdout and stderr.
if (abort.signal.aborted) {
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
  process.exit();
}
