import { randomBytes } from 'node:crypto';
import { copyFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostIP } from './types.js';

/** The hostname a step gets when it asks for none, the same as BuildKit's. */
export const defaultHostname = 'buildkitsandbox';

/** The /etc/hosts a step sees: localhost entries naming its hostname, then its extra hosts. */
export function hostsContent(hostname: string, extraHosts: readonly HostIP[]): string {
  const lines = [`127.0.0.1\tlocalhost ${hostname}`, '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const h of extraHosts) lines.push(`${h.ip}\t${h.host}`);
  return `${lines.join('\n')}\n`;
}

async function replaceFile(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await write(tmp);
  await rename(tmp, path);
}

/**
 * The /etc/resolv.conf and /etc/hosts files bound read-only into containers. Files shared by all
 * steps (the host's resolv.conf, the default hosts file) live in `stateDir` and are rewritten only
 * when their source changes, so a plain step costs one stat; a step with its own hostname or extra
 * hosts gets a file in its bundle. Replacement is by rename, so a running container keeps the
 * version it was started with.
 */
export class EtcFiles {
  readonly #stateDir: string;
  readonly #resolvConfSource: string;
  #resolvKey = '';
  #defaultHosts: Promise<string> | undefined;

  constructor(opts: { stateDir: string; resolvConfSource: string }) {
    this.#stateDir = opts.stateDir;
    this.#resolvConfSource = opts.resolvConfSource;
  }

  /** Path of a current copy of the host's resolv.conf (empty when the host has none). */
  async resolvConf(): Promise<string> {
    const path = join(this.#stateDir, 'resolv.conf');
    let key = 'missing';
    try {
      const st = await stat(this.#resolvConfSource);
      key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (key !== this.#resolvKey) {
      await replaceFile(path, (tmp) =>
        key === 'missing' ? writeFile(tmp, '', { mode: 0o644 }) : copyFile(this.#resolvConfSource, tmp),
      );
      this.#resolvKey = key;
    }
    return path;
  }

  /** Path of the hosts file for a step; `bundleDir` receives it unless it is the default one. */
  async hosts(hostname: string, extraHosts: readonly HostIP[], bundleDir: string): Promise<string> {
    const content = hostsContent(hostname, extraHosts);
    if (hostname !== defaultHostname || extraHosts.length > 0) {
      const path = join(bundleDir, 'hosts');
      await writeFile(path, content, { mode: 0o644 });
      return path;
    }
    this.#defaultHosts ??= (async () => {
      const path = join(this.#stateDir, 'hosts');
      await replaceFile(path, (tmp) => writeFile(tmp, content, { mode: 0o644 }));
      return path;
    })();
    this.#defaultHosts.catch(() => (this.#defaultHosts = undefined));
    return this.#defaultHosts;
  }
}
