/** The failure classes of bench/ (the same gRPC-shaped set the daemon's folders use). */
export type ErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'resource-exhausted'
  | 'unavailable'
  | 'canceled'
  | 'internal';

/** A command-line flag or environment value the runner cannot use. */
export class BenchUsageError extends Error {
  readonly code = 'KILN_BENCH_USAGE' as const;
  readonly kind: ErrorKind = 'invalid-argument';
  constructor(
    readonly option: string,
    expected: string,
    options: { cause?: unknown } = {},
  ) {
    super(`${option}: expected ${expected}`, options);
    this.name = 'BenchUsageError';
  }
}

/** A daemon (kilnd, buildkitd) or helper (registry) did not come up. */
export class DaemonStartError extends Error {
  readonly code = 'KILN_BENCH_DAEMON_START' as const;
  readonly kind: ErrorKind = 'unavailable';
  constructor(
    readonly engine: string,
    readonly logTail: string,
    options: { cause?: unknown } = {},
  ) {
    super(`${engine} did not start listening: ${logTail.slice(-2000)}`, options);
    this.name = 'DaemonStartError';
  }
}

/** A buildctl (or comparison tool) invocation exited non-zero; the workload's figures are void. */
export class CommandFailedError extends Error {
  readonly code = 'KILN_BENCH_COMMAND_FAILED' as const;
  readonly kind: ErrorKind = 'internal';
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderrTail: string,
    options: { cause?: unknown } = {},
  ) {
    // The first line is what a summary shows: buildctl's own verdict is its last "error:" line.
    const lines = stderrTail.split('\n').filter((l) => l.trim());
    const verdict = lines.findLast((l) => /error/i.test(l)) ?? lines.at(-1) ?? '';
    // The command is long (addresses, temp paths); the tool and its subcommand name it well enough.
    const [tool = command, ...rest] = command.split(' ');
    const sub = rest.find((a, i) => !a.startsWith('-') && !rest[i - 1]?.startsWith('--addr')) ?? '';
    const short = `${tool.split('/').pop()} ${sub}`.trim();
    super(`${short} exited with ${exitCode}, expected 0: ${verdict}\n${stderrTail.slice(-3000)}`, options);
    this.name = 'CommandFailedError';
  }
}

/** A workload's result did not hold what it should (the build "succeeded" but did not do the work). */
export class WorkloadCheckError extends Error {
  readonly code = 'KILN_BENCH_CHECK' as const;
  readonly kind: ErrorKind = 'failed-precondition';
  constructor(
    readonly workload: string,
    readonly engine: string,
    detail: string,
  ) {
    super(`${workload} on ${engine}: ${detail}`);
    this.name = 'WorkloadCheckError';
  }
}
