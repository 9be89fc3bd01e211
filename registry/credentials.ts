import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CredentialHelperError } from './errors.js';

/**
 * Credentials for one registry. An empty `username` means `secret` is an identity (refresh) token,
 * as `docker login` stores for some registries; it is exchanged at the token server.
 */
export interface Credentials {
  readonly username: string;
  readonly secret: string;
}

/**
 * Looks up credentials for the host kiln dials (`127.0.0.1:5000`, `registry-1.docker.io` for Docker
 * Hub, a mirror's host). Undefined means "go anonymous". The daemon plugs the client session's Auth
 * service in here; `dockerConfigCredentials` reads the daemon host's docker config.
 */
export type CredentialProvider = (host: string) => Promise<Credentials | undefined>;

/** The first provider that has credentials for the host wins. */
export function chainCredentials(...providers: CredentialProvider[]): CredentialProvider {
  return async (host) => {
    for (const provider of providers) {
      const found = await provider(host);
      if (found) return found;
    }
    return undefined;
  };
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

const dockerHubKey = 'https://index.docker.io/v1/';

/** The config keys that may hold a host's credentials (`auths` keys are often URLs). */
function normaliseKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0] ?? '';
  return host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'docker.io'
    ? 'docker.io'
    : host;
}

function helperName(config: DockerConfigFile, host: string): string | undefined {
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (normaliseKey(key) === host) return helper;
  }
  return config.credsStore || undefined;
}

/** Runs `docker-credential-<helper> get` with the server URL on stdin (the helper protocol). */
function runHelper(
  helper: string,
  server: string,
  host: string,
  helperDir: string | undefined,
): Promise<Credentials | undefined> {
  return new Promise((resolve, reject) => {
    const program = helperDir
      ? join(helperDir, `docker-credential-${helper}`)
      : `docker-credential-${helper}`;
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    child.on('error', (error) =>
      reject(new CredentialHelperError({ helper, host, detail: 'cannot run the helper', cause: error })),
    );
    child.on('close', (code) => {
      if (code !== 0) {
        // The protocol's way of saying "nothing stored for this server".
        if (/credentials not found/i.test(stdout + stderr)) return resolve(undefined);
        return reject(new CredentialHelperError({ helper, host, detail: `exited with ${code}` }));
      }
      try {
        const parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (!parsed.Secret) return resolve(undefined);
        const username = parsed.Username === '<token>' ? '' : (parsed.Username ?? '');
        resolve({ username, secret: parsed.Secret });
      } catch (error) {
        reject(
          new CredentialHelperError({
            helper,
            host,
            detail: 'printed something that is not JSON',
            cause: error,
          }),
        );
      }
    });
    child.stdin.end(server);
  });
}

/**
 * Credentials from a docker `config.json` (`~/.docker/config.json` of the daemon host): `auths`
 * entries (`auth` = base64 `user:password`, or `username`/`password`, or `identitytoken`), then
 * `credHelpers[host]`, then `credsStore`, through `docker-credential-<name> get`. The file is read
 * on each call, so `docker login` takes effect without a restart; a missing file means anonymous.
 * Throws CredentialHelperError when a helper fails. Helpers are found on PATH unless `helperDir`
 * names their directory.
 */
export function dockerConfigCredentials(
  path: string,
  options: { helperDir?: string } = {},
): CredentialProvider {
  return async (host) => {
    let config: DockerConfigFile;
    try {
      config = JSON.parse(await readFile(path, 'utf8')) as DockerConfigFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const wanted = normaliseKey(host);
    for (const [key, entry] of Object.entries(config.auths ?? {})) {
      if (normaliseKey(key) !== wanted) continue;
      if (entry.identitytoken) return { username: '', secret: entry.identitytoken };
      if (entry.auth) {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) return { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
      }
      if (entry.username && entry.password) return { username: entry.username, secret: entry.password };
    }
    const helper = helperName(config, wanted);
    if (!helper) return undefined;
    return runHelper(helper, wanted === 'docker.io' ? dockerHubKey : wanted, host, options.helperDir);
  };
}
