import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import type { Agent, Dispatcher } from 'undici';
import { dockerHubDomain, registryHost } from '../oci/index.js';
import { RegistryConfigError } from './errors.js';
import type { EndpointTls } from './streamed-request.js';

/**
 * Settings for one registry host, with the meaning of buildkitd.toml's `[registry."host"]`:
 * `http` talks plain HTTP (default true only for localhost, 127.0.0.1 and ::1), `insecure` skips
 * TLS verification, `mirrors` are `host[/path]` tried in order before the registry for pulls,
 * `ca` lists PEM files trusted in addition to the system roots.
 */
export interface HostSettings {
  readonly http?: boolean;
  readonly insecure?: boolean;
  readonly mirrors?: readonly string[];
  readonly ca?: readonly string[];
}

/** Settings keyed by host as users write it (`docker.io`, `127.0.0.1:5000`, a mirror's host). */
export type RegistryHosts = Readonly<Record<string, HostSettings>>;

/** One place a request may go: a base URL ending in `/v2` and how to connect there. */
export interface Endpoint {
  /** The host dialled, for credentials and the token cache (`registry-1.docker.io`, a mirror). */
  readonly host: string;
  /** `http://127.0.0.1:5000/v2`, `https://mirror.example/path/v2`. */
  readonly base: string;
  readonly mirror: boolean;
  /**
   * Set for `insecure` or `ca` hosts (undefined means Node's default). A function, so the agent
   * is only made when a request goes this way: an `http` + `insecure` host is mostly reached
   * over http, and undici costs a cold build about 50 ms to load and 20 MB to keep.
   */
  readonly dispatcher?: () => Promise<Dispatcher>;
  /** The same settings for requests sent over node:https (streamed uploads). */
  readonly tls?: EndpointTls;
}

export function isLocalhost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  return name === 'localhost' || name === '127.0.0.1' || name === '[::1]' || host === '::1';
}

/**
 * Turns per-host settings into endpoints, and owns the undici agents made for `insecure` and `ca`
 * hosts (one per host, made on its first request, reused; `close()` releases them). CA files are
 * read whenever endpoints are listed, so a bad path fails there, with the host named.
 */
export class HostResolver {
  readonly #hosts: RegistryHosts;
  readonly #agents = new Map<string, Promise<Agent>>();

  constructor(options: { hosts?: RegistryHosts }) {
    this.#hosts = options.hosts ?? {};
  }

  /**
   * Endpoints for a registry domain, in the order to try them. Pulls and resolves try the mirrors
   * first; pushes only ever go to the registry itself. With both `http` and `insecure`, plain
   * HTTP comes first and HTTPS without verification second.
   */
  async endpoints(domain: string, purpose: 'pull' | 'push'): Promise<Endpoint[]> {
    const settings =
      this.#hosts[domain] ?? (domain === dockerHubDomain ? this.#hosts[registryHost(domain)] : undefined);
    const out: Endpoint[] = [];
    if (purpose === 'pull') {
      for (const mirror of settings?.mirrors ?? []) {
        const trimmed = mirror.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
        if (!trimmed)
          throw new RegistryConfigError({
            host: domain,
            detail: `mirror ${JSON.stringify(mirror)} is empty`,
          });
        const host = trimmed.split('/')[0]!;
        out.push(...(await this.#variants(host, trimmed, this.#hosts[trimmed] ?? this.#hosts[host], true)));
      }
    }
    const host = registryHost(domain);
    out.push(...(await this.#variants(host, host, settings, false)));
    return out;
  }

  async #variants(
    host: string,
    hostPath: string,
    s: HostSettings | undefined,
    mirror: boolean,
  ): Promise<Endpoint[]> {
    const http = s?.http ?? isLocalhost(host);
    const out: Endpoint[] = [];
    if (http) out.push({ host, base: `http://${hostPath}/v2`, mirror });
    if (s?.insecure || !http) {
      const custom = s !== undefined && (s.insecure || (s.ca !== undefined && s.ca.length > 0));
      if (!custom) {
        out.push({ host, base: `https://${hostPath}/v2`, mirror });
      } else {
        const ca = await readCas(host, s.ca ?? []);
        const tls: EndpointTls = {
          rejectUnauthorized: !s.insecure,
          ...(ca.length > 0 ? { ca: [...rootCertificates, ...ca] } : {}),
        };
        out.push({ host, base: `https://${hostPath}/v2`, mirror, dispatcher: this.#agent(host, tls), tls });
      }
    }
    return out;
  }

  /** The agent for `host`, made on the first call. */
  #agent(host: string, tls: EndpointTls): () => Promise<Agent> {
    return () => {
      let agent = this.#agents.get(host);
      if (!agent) {
        agent = import('undici').then(
          ({ Agent }) =>
            new Agent({
              connect: { rejectUnauthorized: tls.rejectUnauthorized, ...(tls.ca ? { ca: [...tls.ca] } : {}) },
            }),
        );
        agent.catch(() => this.#agents.delete(host));
        this.#agents.set(host, agent);
      }
      return agent;
    };
  }

  /** Closes the agents made for insecure and CA hosts. */
  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map(async (a) => (await a.catch(() => undefined))?.close()));
  }
}

async function readCas(host: string, files: readonly string[]): Promise<string[]> {
  const ca: string[] = [];
  for (const file of files) {
    try {
      ca.push(await readFile(file, 'utf8'));
    } catch (error) {
      throw new RegistryConfigError({ host, detail: `cannot read CA file ${file}`, cause: error });
    }
  }
  return ca;
}
