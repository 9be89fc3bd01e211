import { ClientUsageError } from '../errors.js';
import { csvAttrs } from './csv.js';

/** One `--export-cache` / `--import-cache` entry as sent in `SolveRequest.Cache`. */
export interface CacheEntry {
  readonly type: string;
  readonly attrs: Record<string, string>;
}

type Env = Readonly<Record<string, string | undefined>>;

function parseEntry(value: string, option: string, env: Env): CacheEntry {
  let type = '';
  const attrs: Record<string, string> = {};
  for (const [key, v] of csvAttrs(value, option)) {
    if (key === 'type') type = v;
    else attrs[key] = v;
  }
  if (type === '') throw new ClientUsageError({ option, message: `${option} requires type=<type>` });
  if (type === 'gha') {
    for (const [attr, variable] of [
      ['url', 'ACTIONS_CACHE_URL'],
      ['token', 'ACTIONS_RUNTIME_TOKEN'],
    ] as const) {
      if (attrs[attr] !== undefined) continue;
      const found = env[variable];
      if (found === undefined) {
        throw new ClientUsageError({
          option,
          message: `cache with type gha requires ${attr} parameter or $${variable}`,
        });
      }
      attrs[attr] = found;
    }
  }
  return { type, attrs };
}

/**
 * Parses `--export-cache` values like buildctl: CSV `type=…,k=v` (keys lower-cased, `mode=min`
 * added when absent, `gha` filled from `ACTIONS_*` in `env`), or the legacy bare `<ref>` form,
 * which means `type=registry,ref=<ref>,mode=min`. `warn` receives the deprecation notice.
 */
export function parseExportCacheFlags(
  values: readonly string[],
  options: { env?: Env; warn?: (message: string) => void } = {},
): CacheEntry[] {
  return values.map((value) => {
    if (!value.includes('type=')) {
      options.warn?.(
        '--export-cache <ref> is deprecated. Please use --export-cache type=registry,ref=<ref>,<opt>=<optval>[,<opt>=<optval>] instead',
      );
      return { type: 'registry', attrs: { mode: 'min', ref: value } };
    }
    const entry = parseEntry(value, '--export-cache', options.env ?? {});
    if (entry.attrs['mode'] === undefined) entry.attrs['mode'] = 'min';
    return entry;
  });
}

/** Parses `--import-cache` values like buildctl (legacy bare `<ref>` = `type=registry,ref=<ref>`). */
export function parseImportCacheFlags(
  values: readonly string[],
  options: { env?: Env; warn?: (message: string) => void } = {},
): CacheEntry[] {
  return values.map((value) => {
    if (!value.includes('type=')) {
      options.warn?.(
        '--import-cache <ref> is deprecated. Please use --import-cache type=registry,ref=<ref>,<opt>=<optval>[,<opt>=<optval>] instead.',
      );
      return { type: 'registry', attrs: { ref: value } };
    }
    return parseEntry(value, '--import-cache', options.env ?? {});
  });
}
