import { ClientUsageError } from '../errors.js';
import { PlainPrinter, errorSummary } from './plain-printer.js';
import { rawJsonLine } from './rawjson.js';
import type { ProgressWarning, SolveStatus } from './solve-status.js';
import { ProgressTrace } from './trace.js';
import { TtyDisplay, ansiColors, noColors } from './tty-display.js';

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'rawjson' | 'quiet';

/** Where the display writes (stderr for builds); a TTY stream enables `auto` → `tty`. */
export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly rows?: number;
}

export interface ProgressDisplayOptions {
  readonly mode: ProgressMode | string;
  readonly output: ProgressOutput;
  /** Turns colours off in tty mode (the caller passes `!!process.env.NO_COLOR`). */
  readonly noColor?: boolean;
  /** `PROGRESS_NO_TRUNC=0`: cut step names at 72 characters in plain mode. */
  readonly truncateNames?: boolean;
  /** Clock in ms; tests inject one. */
  readonly now?: () => number;
  /** Redraw interval in ms (BuildKit: 100 ms limit, 150 ms ticker). */
  readonly rateMs?: number;
}

/**
 * Renders a build's progress as buildctl does, in one of its modes: `plain` (line blocks per
 * step), `tty` (redrawn in place), `rawjson` (one JSON SolveStatus per line), `quiet` (only the
 * error summary), `auto` (tty when the output is a terminal, else plain).
 *
 * Lifecycle: `update()` for each SolveStatus, then `finish()` once the build's status stream has
 * ended; finish prints what is left and the summary of failed steps, and returns all warnings.
 * Throws ClientUsageError for an unknown mode or `tty` on a non-terminal.
 */
export class ProgressDisplay {
  readonly mode: 'tty' | 'plain' | 'rawjson' | 'quiet';
  readonly #trace: ProgressTrace;
  readonly #plain: PlainPrinter | undefined;
  readonly #tty: TtyDisplay | undefined;
  readonly #output: ProgressOutput;
  readonly #rateMs: number;
  #lastRender = -Infinity;
  #ticker: NodeJS.Timeout | undefined;
  #finished = false;

  constructor(options: ProgressDisplayOptions) {
    this.#output = options.output;
    this.#rateMs = options.rateMs ?? 100;
    const requested = options.mode === '' ? 'auto' : options.mode;
    if (requested === 'auto') this.mode = options.output.isTTY ? 'tty' : 'plain';
    else if (requested === 'tty') {
      if (!options.output.isTTY) {
        throw new ClientUsageError({
          option: '--progress',
          message: 'failed to get console: provided file is not a console',
        });
      }
      this.mode = 'tty';
    } else if (requested === 'plain' || requested === 'rawjson' || requested === 'quiet')
      this.mode = requested;
    else throw new ClientUsageError({ option: '--progress', message: `invalid progress mode ${requested}` });

    this.#trace = new ProgressTrace({
      keepTerm: this.mode === 'tty',
      ...(options.now ? { now: options.now } : {}),
    });
    const write = (text: string): void => void this.#output.write(text);
    if (this.mode === 'plain')
      this.#plain = new PlainPrinter(write, { truncateNames: options.truncateNames ?? false });
    if (this.mode === 'tty') {
      this.#tty = new TtyDisplay(write, {
        colors: options.noColor ? noColors : ansiColors,
        size: () => ({
          width: this.#output.columns && this.#output.columns > 0 ? this.#output.columns : 80,
          height: this.#output.rows && this.#output.rows > 0 ? this.#output.rows : 10,
        }),
      });
    }
    if (this.#plain || this.#tty) {
      this.#ticker = setInterval(() => this.#maybeRender(), Math.round(this.#rateMs * 1.5));
      this.#ticker.unref();
    }
  }

  /** The accumulated step state (for callers that render summaries of their own). */
  get trace(): ProgressTrace {
    return this.#trace;
  }

  update(status: SolveStatus): void {
    if (this.#finished) return;
    if (this.mode === 'rawjson') {
      this.#output.write(rawJsonLine(status));
      return;
    }
    this.#trace.update(status);
    this.#maybeRender();
  }

  #maybeRender(): void {
    const now = this.#trace.now();
    if (now - this.#lastRender < this.#rateMs) return;
    this.#lastRender = now;
    this.#render(false);
  }

  #render(final: boolean): void {
    if (this.#plain) this.#plain.print(this.#trace);
    else if (this.#tty) this.#tty.render(this.#trace, final);
  }

  /** Flushes the display and prints the failed steps' last log lines; idempotent. */
  finish(): ProgressWarning[] {
    if (this.#finished) return this.#trace.allWarnings();
    this.#finished = true;
    if (this.#ticker) clearInterval(this.#ticker);
    if (this.mode !== 'rawjson') {
      this.#render(true);
      this.#output.write(errorSummary(this.#trace));
    }
    return this.#trace.allWarnings();
  }
}
