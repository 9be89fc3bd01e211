import { posix } from 'node:path';
import type { ImageConfig } from '../../oci/index.js';
import { goFormatList, trimSpace } from './go-text.js';
import { withShell } from './image-config.js';
import { chompHeredocContent, isHeredocMarker } from './parser/heredoc.js';
import type { CommandLine } from './instructions/types.js';

/** The process a RUN executes, derived from its command line and the image's SHELL. */
export interface RunCommandArgs {
  /** argv of the process (the shell prepended for the shell form). */
  readonly args: readonly string[];
  /**
   * A heredoc starting with `#!` is run as a script: phase 2 writes `data` to a file `name`
   * (mode 0755) and mounts its directory read-only at `/dev/pipes/`; `args` already points there.
   */
  readonly script?: { readonly name: string; readonly data: string };
  /** `(first line...)` suffix BuildKit adds to the progress name of a single-heredoc RUN. */
  readonly summary?: string;
}

/** BuildKit's progress-name summary of a heredoc: its first non-blank line, `...` if there are more. */
export function summarizeHeredoc(doc: string): string {
  const lines = trimSpace(doc).replaceAll('\r\n', '\n').split('\n');
  return lines.length > 1 ? `${lines[0]}...` : lines[0]!;
}

/**
 * Computes what a RUN executes, as BuildKit does: a lone heredoc (`RUN <<EOF`) runs its body in
 * the shell, or as a script when it starts with `#!` (not on Windows); other heredoc uses
 * (`RUN python3 <<EOF`, several heredocs) hand the whole text, bodies included, to the shell.
 * Throws Error(`parsing produced an invalid run command: […]`) for heredocs on an exec form.
 */
export function runCommandArgs(image: ImageConfig, command: CommandLine): RunCommandArgs {
  let args = [...command.args];
  let script: RunCommandArgs['script'];
  let summary: string | undefined;
  if (command.files.length > 0) {
    if (args.length !== 1 || !command.prependShell) {
      throw new Error(`parsing produced an invalid run command: ${goFormatList(args)}`);
    }
    const first = command.files[0]!;
    if (isHeredocMarker(args[0]!)) {
      const data = first.chomp ? chompHeredocContent(first.data) : first.data;
      if (image.os !== 'windows' && first.data.startsWith('#!')) {
        script = { name: first.name, data };
        args = [posix.join('/dev/pipes/', first.name)];
      } else {
        args = [data];
      }
      summary = ` (${summarizeHeredoc(first.data)})`;
    } else {
      args = [args[0] + command.files.map((f) => `\n${f.data}${f.name}`).join('')];
    }
  }
  if (command.prependShell) args = withShell(image, args);
  return { args, ...(script ? { script } : {}), ...(summary === undefined ? {} : { summary }) };
}
