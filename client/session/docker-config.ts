import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { ProviderConfigError } from './errors.js';

/** The parts of `~/.docker/config.json` that hold registry credentials. */
export interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export interface HostCredentials {
  username: string;
  /** A password, or an identity (refresh) token when `username` is empty. */
  secret: string;
}

/** Reads a docker config file; a missing file is an empty config. Throws ProviderConfigError. */
export async function readDockerConfig(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ProviderConfigError({ provider: 'auth', message: `cannot read ${path}`, cause: err });
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (err) {
    throw new ProviderConfigError({ provider: 'auth', message: `${path} is not valid JSON`, cause: err });
  }
}

/** Docker Hub's registry host maps to the legacy config key, as the docker CLI does. */
function configKey(host: string): string {
  return host === 'registry-1.docker.io' || host === 'docker.io' || host === 'index.docker.io'
    ? 'https://index.docker.io/v1/'
    : host;
}

/** `https://host/v1/` and `host` name the same registry in `auths`. */
function bareHost(key: string): string {
  return key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
}

/**
 * The credentials for a registry host: a credential helper (`credHelpers[host]`, then
 * `credsStore`) or an `auths` entry. Undefined when none are configured.
 */
export async function lookupCredentials(
  config: DockerConfig,
  host: string,
): Promise<HostCredentials | undefined> {
  const key = configKey(host);
  const helper = config.credHelpers?.[key] ?? config.credHelpers?.[host] ?? config.credsStore;
  if (helper) {
    const fromHelper = await runHelper(helper, key);
    if (fromHelper) return fromHelper;
  }
  const auths = config.auths ?? {};
  const entry = auths[key] ?? Object.entries(auths).find(([k]) => bareHost(k) === bareHost(key))?.[1];
  if (!entry) return undefined;
  if (entry.identitytoken) return { username: '', secret: entry.identitytoken };
  if (entry.username || entry.password)
    return { username: entry.username ?? '', secret: entry.password ?? '' };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString();
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
  }
  return undefined;
}

function runHelper(helper: string, serverUrl: string): Promise<HostCredentials | undefined> {
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${helper}`, ['get'], { timeout: 30_000 }, (err, stdout) => {
      if (err) {
        // "credentials not found" is a normal answer from helpers.
        if (/not found/i.test(stdout) || /not found/i.test(err.message)) resolve(undefined);
        else
          reject(
            new ProviderConfigError({
              provider: 'auth',
              message: `credential helper docker-credential-${helper} failed`,
              cause: err,
            }),
          );
        return;
      }
      try {
        const parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (parsed.Username === '<token>') resolve({ username: '', secret: parsed.Secret ?? '' });
        else resolve({ username: parsed.Username ?? '', secret: parsed.Secret ?? '' });
      } catch (parseErr) {
        reject(
          new ProviderConfigError({
            provider: 'auth',
            message: `docker-credential-${helper} printed invalid JSON`,
            cause: parseErr,
          }),
        );
      }
    });
    child.stdin?.end(serverUrl);
  });
}
