import { parseArgs } from 'node:util';
import { BenchUsageError } from './errors.js';
import type { BuildForm } from './workload.js';

export interface BenchOptions {
  readonly runs: number;
  readonly quick: boolean;
  /** Workload names to run; empty = all. */
  readonly only: readonly string[];
  readonly form: BuildForm;
  /** buildkitd to compare with; none = kiln alone. */
  readonly buildkitd?: string;
  readonly buildctl: string;
  /** Skip kiln (measure BuildKit and the baselines only). */
  readonly noKiln: boolean;
  /** Write kilnd CPU profiles (and their summary) here. */
  readonly profileDir?: string;
  /** Extra node flags for kilnd (`--max-semi-space-size=4`), to measure alternatives. */
  readonly kilnNodeFlags: readonly string[];
  /** Where the JSON goes besides stdout's table. */
  readonly out: string;
  readonly help: boolean;
}

/** What the runner takes from its environment: the entry point reads these, nothing else does. */
export interface BenchEnvVars {
  readonly BUILDKITD?: string;
  readonly BUILDCTL?: string;
}

export const benchUsage = `Usage: npm run bench -- [options]
       BUILDKITD=/path/buildkitd BUILDCTL=/path/buildctl npm run bench

  --runs N           repetitions per workload and engine (default 5, --quick 2)
  --quick            fewer repetitions and smaller inputs (CI smoke run)
  --only NAME        run only this workload (repeatable, or comma-separated)
  --form llb|dockerfile
                     hand builds over as LLB (default) or through the dockerfile.v0 frontend
  --no-kiln          measure BuildKit and the baselines only
  --profile DIR      run kilnd under --cpu-prof; profiles and a summary land in DIR
  --kiln-node-flag F node flag for kilnd, e.g. --kiln-node-flag=--max-semi-space-size=4 (repeatable)
  --out FILE         JSON results (default bench/results/latest.json)
  -h, --help         this help

BUILDKITD adds a real buildkitd to every workload, interleaved with kiln; BUILDCTL is the stock
buildctl that drives both (default /tmp/bk/buildctl when present, else buildctl on PATH).
`;

/** Parses the runner's flags; `defaults` supplies what depends on the machine. Throws BenchUsageError. */
export function parseBenchArgs(
  argv: readonly string[],
  vars: BenchEnvVars,
  defaults: { readonly out: string; readonly buildctl: string },
): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        runs: { type: 'string' },
        quick: { type: 'boolean', default: false },
        only: { type: 'string', multiple: true },
        form: { type: 'string', default: 'llb' },
        'no-kiln': { type: 'boolean', default: false },
        profile: { type: 'string' },
        'kiln-node-flag': { type: 'string', multiple: true },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (cause) {
    throw new BenchUsageError('arguments', `flags from --help (${(cause as Error).message})`, { cause });
  }
  const runs = values.runs === undefined ? (values.quick ? 2 : 5) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1)
    throw new BenchUsageError('--runs', `a positive integer, got ${values.runs}`);
  if (values.form !== 'llb' && values.form !== 'dockerfile') {
    throw new BenchUsageError('--form', `llb or dockerfile, got ${values.form}`);
  }
  if (values['no-kiln'] && !vars.BUILDKITD) throw new BenchUsageError('--no-kiln', 'BUILDKITD to be set');
  return {
    runs,
    quick: values.quick,
    only: (values.only ?? []).flatMap((o) => o.split(',')).filter(Boolean),
    form: values.form,
    ...(vars.BUILDKITD ? { buildkitd: vars.BUILDKITD } : {}),
    buildctl: vars.BUILDCTL ?? defaults.buildctl,
    noKiln: values['no-kiln'],
    ...(values.profile ? { profileDir: values.profile } : {}),
    kilnNodeFlags: values['kiln-node-flag'] ?? [],
    out: values.out ?? defaults.out,
    help: values.help,
  };
}
