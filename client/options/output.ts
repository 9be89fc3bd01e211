import { ClientUsageError } from '../errors.js';
import { csvAttrs } from './csv.js';

/**
 * One `--output`: the exporter `type`, the attrs sent to the daemon, and where the client puts
 * the result. `dest` is consumed client-side for `local` (a directory), `tar` and `oci`/`docker`
 * (a file, or stdout when absent or `-`; a directory with `tar=false`), and is rejected elsewhere.
 */
export interface OutputFlag {
  readonly type: string;
  readonly attrs: Record<string, string>;
  readonly dest?: string;
}

/** How the client receives an exporter's result. */
export type DestinationKind = 'directory' | 'file' | 'none';

/** BuildKit's rule: local → directory; tar → file; oci/docker → file unless `tar=false`; else none. */
export function destinationKind(type: string, attrs: Readonly<Record<string, string>>): DestinationKind {
  switch (type) {
    case 'local':
      return 'directory';
    case 'tar':
      return 'file';
    case 'oci':
    case 'docker':
      return parseGoBool(attrs['tar']) === false ? 'directory' : 'file';
    default:
      return 'none';
  }
}

/** Go's strconv.ParseBool; undefined when the text is not a boolean. */
export function parseGoBool(text: string | undefined): boolean | undefined {
  if (text === undefined) return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/**
 * Parses one `--output` value (`type=local,dest=out`) like buildctl: keys lower-cased, `type`
 * required, `output=` refused, `dest` checked against the exporter. `stdoutIsTTY` makes a
 * file exporter without a destination fail instead of writing binary data to a terminal.
 */
export function parseOutputFlag(value: string, options: { stdoutIsTTY?: boolean } = {}): OutputFlag {
  let type = '';
  const attrs: Record<string, string> = {};
  for (const [key, v] of csvAttrs(value, '--output')) {
    if (key === 'type') type = v;
    else attrs[key] = v;
  }
  const invalid = (message: string): never => {
    throw new ClientUsageError({ option: '--output', message: `invalid output option: output: ${message}` });
  };
  if (type === '')
    throw new ClientUsageError({ option: '--output', message: '--output requires type=<type>' });
  if (attrs['output'] !== undefined) {
    const v = attrs['output'];
    throw new ClientUsageError({
      option: '--output',
      message: `output=${v} not supported for --output, you meant dest=${v}?`,
    });
  }
  const dest = attrs['dest'];
  const kind = destinationKind(type, attrs);
  if (kind === 'none') {
    if (dest) invalid(`output ${dest} is not supported by ${type} exporter`);
    return { type, attrs };
  }
  delete attrs['dest'];
  if (kind === 'directory') {
    if (!dest) invalid(`output directory is required for ${type} exporter`);
    return { type, attrs, dest: dest! };
  }
  if (dest && dest !== '-') return { type, attrs, dest };
  if (options.stdoutIsTTY)
    invalid(`output file is required for ${type} exporter. refusing to write to console`);
  return { type, attrs };
}
