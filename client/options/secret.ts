import { ClientUsageError } from '../errors.js';
import { readCsvRecord } from './csv.js';

/** A `--secret`: its id and where the value comes from (`file` path or `env` variable). */
export interface SecretFlag {
  readonly id: string;
  readonly source: { readonly file: string } | { readonly env: string };
}

/**
 * Parses one `--secret id=x,src=path | id=x,env=VAR | id=x,type=env[,src=VAR]` like buildctl.
 * Without `src`/`env`, the secret comes from the variable named `id` when `env` has it, else from
 * the file named `id` (buildctl's secrets store rule).
 */
export function parseSecretFlag(
  value: string,
  env: Readonly<Record<string, string | undefined>> = {},
): SecretFlag {
  let id = '';
  let file = '';
  let variable = '';
  let type = '';
  for (const field of readCsvRecord(value, '--secret')) {
    const eq = field.indexOf('=');
    if (eq < 0) {
      throw new ClientUsageError({
        option: '--secret',
        message: `invalid field '${field}' must be a key=value pair`,
      });
    }
    const key = field.slice(0, eq).toLowerCase();
    const v = field.slice(eq + 1);
    if (key === 'type') {
      if (v !== 'file' && v !== 'env') {
        throw new ClientUsageError({ option: '--secret', message: `unsupported secret type "${v}"` });
      }
      type = v;
    } else if (key === 'id') id = v;
    else if (key === 'source' || key === 'src') file = v;
    else if (key === 'env') variable = v;
    else throw new ClientUsageError({ option: '--secret', message: `unexpected key '${key}' in '${field}'` });
  }
  if (type === 'env' && variable === '') {
    variable = file;
    file = '';
  }
  if (id === '') throw new ClientUsageError({ option: '--secret', message: 'secret missing ID' });
  if (variable === '' && file === '') {
    if (env[id] !== undefined) variable = id;
    else file = id;
  }
  return { id, source: file !== '' ? { file } : { env: variable } };
}

/** A `--ssh` entry: an id (default `default`) and agent socket paths (empty = `$SSH_AUTH_SOCK`). */
export interface SshFlag {
  readonly id: string;
  readonly paths: readonly string[];
}

/** Parses `--ssh default | id | id=path[,path]` like buildctl. */
export function parseSshFlag(value: string): SshFlag {
  const eq = value.indexOf('=');
  if (eq < 0) return { id: value || 'default', paths: [] };
  const paths = value.slice(eq + 1).split(',');
  return { id: value.slice(0, eq) || 'default', paths: paths.length === 1 && paths[0] === '' ? [] : paths };
}

const entitlements = ['network.host', 'security.insecure'] as const;
export type Entitlement = (typeof entitlements)[number];

/** Parses `--allow` values; v0.11.6 accepts exactly `network.host` and `security.insecure`. */
export function parseAllowFlag(value: string): Entitlement {
  if ((entitlements as readonly string[]).includes(value)) return value as Entitlement;
  throw new ClientUsageError({ option: '--allow', message: `unknown entitlement ${value}` });
}
