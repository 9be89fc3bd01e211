// Tallies what a daemon did with each hostile request: built it, refused it clearly, refused it
// with something that reads like an internal failure, or never answered.

/** What happened to one request. */
export type Outcome =
  | { readonly kind: 'built' }
  | { readonly kind: 'refused'; readonly errorKind: string; readonly message: string }
  | { readonly kind: 'unclear'; readonly errorKind: string; readonly message: string }
  | { readonly kind: 'hung' };

/** What a JavaScript runtime failure looks like when it leaks through to a user. */
export const runtimeFailure =
  /\b(TypeError|ReferenceError|RangeError|Cannot read propert|is not a function|is not iterable|Maximum call stack|Invalid array length)\b|\n\s+at \S+ \(|\.js:\d+:\d+/;

/**
 * Classifies an error from the client library. A refusal is clear when it has a class other than
 * `internal`, reads like no JavaScript runtime failure, and, when its class is `unknown` (what
 * BuildKit reports for a failed step), names the step's exit.
 */
export function classify(error: unknown): Outcome {
  const errorKind = (error as { kind?: unknown }).kind;
  const kind = typeof errorKind === 'string' ? errorKind : 'none';
  const message = error instanceof Error ? error.message : String(error);
  // The client library's own cap check, before the daemon solves anything (buildctl's words).
  if (
    /^failed to solve: requested feature .* (is not supported by build server|has been disabled)/.test(
      message,
    )
  )
    return { kind: 'refused', errorKind: 'client cap check', message };
  const clear =
    kind !== 'internal' &&
    kind !== 'none' &&
    !runtimeFailure.test(message) &&
    (kind !== 'unknown' || /did not complete successfully|exit code/.test(message));
  return clear
    ? { kind: 'refused', errorKind: kind, message }
    : { kind: 'unclear', errorKind: kind, message };
}

/** One request's label (for reproducing it) and outcome. */
export interface Tallied {
  readonly label: string;
  readonly outcome: Outcome;
}

/** Counts per outcome (`built`, `refused: invalid-argument`, …) and the requests that need a look. */
export class Tally {
  readonly counts = new Map<string, number>();
  readonly suspicious: Tallied[] = [];
  total = 0;

  add(entry: Tallied): void {
    const { outcome } = entry;
    const key =
      outcome.kind === 'refused' || outcome.kind === 'unclear'
        ? `${outcome.kind}: ${outcome.errorKind}`
        : outcome.kind;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.total++;
    if (outcome.kind === 'unclear' || outcome.kind === 'hung') this.suspicious.push(entry);
  }

  count(prefix: string): number {
    let n = 0;
    for (const [key, value] of this.counts) if (key.startsWith(prefix)) n += value;
    return n;
  }

  /** `built 212, refused: invalid-argument 700, …`, most frequent first. */
  summary(): string {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1])
      .map(([key, n]) => `${key} ${n}`)
      .join(', ');
  }

  /** The first few requests that were not cleanly built or refused, for the failure message. */
  report(limit = 8): string {
    return this.suspicious
      .slice(0, limit)
      .map(({ label, outcome }) =>
        outcome.kind === 'hung'
          ? `${label}: no answer`
          : `${label}: ${outcome.kind === 'built' ? '' : outcome.message.slice(0, 400)}`,
      )
      .join('\n');
  }
}

/**
 * Runs `request(i)` for i in [0, count) with `parallel` in flight; each gets a signal that aborts
 * after `timeoutMs`, and an aborted request counts as hung. `label(i)` names request i in reports.
 */
export async function runAll(options: {
  readonly count: number;
  readonly parallel: number;
  readonly timeoutMs: number;
  readonly label: (index: number) => string;
  readonly request: (index: number, signal: AbortSignal) => Promise<unknown>;
  readonly tally: Tally;
}): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < options.count; i = next++) {
      const signal = AbortSignal.timeout(options.timeoutMs);
      let outcome: Outcome = { kind: 'built' };
      try {
        await options.request(i, signal);
      } catch (error) {
        outcome = signal.aborted ? { kind: 'hung' } : classify(error);
      }
      options.tally.add({ label: options.label(i), outcome });
    }
  };
  await Promise.all(Array.from({ length: options.parallel }, worker));
}
