import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { AuthChallenge } from './auth-challenge.js';
import type { CredentialProvider, Credentials } from './credentials.js';
import type { FetchInit } from './transport.js';
import {
  RegistryProtocolError,
  RegistryUnauthorizedError,
  RegistryUnavailableError,
  type RegistryOperation,
} from './errors.js';

/** Who is asking, for error messages. */
export interface AuthContext {
  readonly operation: RegistryOperation;
  readonly registry: string;
  readonly repository: string;
}

interface CachedToken {
  readonly token: string;
  /** Epoch ms after which the token is not used any more (a margin before its real expiry). */
  readonly useUntil: number;
}

type FetchWithDispatcher = (url: string, init: FetchInit) => Promise<Response>;

/**
 * Authorization for registry requests, per dialled host: learns each host's challenge from its
 * first 401 (`Bearer realm=… service=…` or `Basic`), asks the credential provider once per host,
 * and caches bearer tokens per host, service and scope set until shortly before they expire.
 * Concurrent requests needing the same token share one token request. Never logs secrets.
 */
export class Authorizer {
  readonly #credentials: CredentialProvider | undefined;
  readonly #logger: Logger | undefined;
  readonly #fetch: FetchWithDispatcher;
  readonly #challenges = new Map<string, AuthChallenge>();
  readonly #contacted = new Set<string>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<CachedToken>>();
  readonly #creds = new Map<string, Promise<Credentials | undefined>>();

  constructor(options: { credentials?: CredentialProvider; logger?: Logger; fetch?: FetchWithDispatcher }) {
    this.#credentials = options.credentials;
    this.#logger = options.logger;
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init as unknown as RequestInit));
  }

  /**
   * Whether `host` answered before, so its challenge (if it has one) is known. Requests with stream
   * bodies to a host never contacted are preceded by a ping, so a first 401 does not cost an upload.
   */
  knows(host: string): boolean {
    return this.#contacted.has(host);
  }

  /** Records that `host` answered a request. */
  contacted(host: string): void {
    this.#contacted.add(host);
  }

  /** The credentials for `host`, asked once per authorizer (a session's answer does not change). */
  credentials(host: string): Promise<Credentials | undefined> {
    let found = this.#creds.get(host);
    if (!found) {
      found = this.#credentials ? this.#credentials(host) : Promise.resolve(undefined);
      found.catch(() => this.#creds.delete(host));
      this.#creds.set(host, found);
    }
    return found;
  }

  /** The `Authorization` value for a request to `host` needing `scopes`, or undefined (anonymous). */
  async header(
    host: string,
    scopes: readonly string[],
    ctx: AuthContext,
    signal?: AbortSignal,
    dispatcher?: Dispatcher,
  ): Promise<string | undefined> {
    const challenge = this.#challenges.get(host);
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      const creds = await this.credentials(host);
      return creds
        ? `Basic ${Buffer.from(`${creds.username}:${creds.secret}`).toString('base64')}`
        : undefined;
    }
    const key = this.#key(host, challenge, scopes);
    const cached = this.#tokens.get(key);
    if (cached && cached.useUntil > Date.now()) return `Bearer ${cached.token}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#fetchToken(host, challenge, scopes, ctx, signal, dispatcher).finally(() =>
        this.#pending.delete(key),
      );
      this.#pending.set(key, pending);
    }
    const token = await pending;
    this.#tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  /**
   * Takes in a 401's challenges. Returns true when retrying with a fresh `header()` may succeed:
   * a new bearer challenge or a token that may have expired (dropped from the cache), or a basic
   * challenge the first time credentials exist for the host.
   */
  async challenged(
    host: string,
    challenges: readonly AuthChallenge[],
    scopes: readonly string[],
    sent: string | undefined,
  ): Promise<boolean> {
    const challenge =
      challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ??
      challenges.find((c) => c.scheme === 'basic');
    if (!challenge) return false;
    this.#challenges.set(host, challenge);
    if (challenge.scheme === 'bearer') {
      if (sent?.startsWith('Bearer ')) this.#tokens.delete(this.#key(host, challenge, scopes));
      return true;
    }
    return !sent?.startsWith('Basic ') && (await this.credentials(host)) !== undefined;
  }

  #key(host: string, challenge: AuthChallenge, scopes: readonly string[]): string {
    return `${host}\n${challenge.params.service ?? ''}\n${[...new Set(scopes)].sort().join(' ')}`;
  }

  async #fetchToken(
    host: string,
    challenge: AuthChallenge,
    scopes: readonly string[],
    ctx: AuthContext,
    signal: AbortSignal | undefined,
    dispatcher: Dispatcher | undefined,
  ): Promise<CachedToken> {
    const realm = challenge.params.realm!;
    const service = challenge.params.service;
    const creds = await this.credentials(host);
    const url = new URL(realm);
    const init: FetchInit = { signal, headers: {} };
    if (new URL(realm).host === host && dispatcher) init.dispatcher = dispatcher;
    if (creds && creds.username === '') {
      // An identity token: OAuth2 refresh-token grant, as docker does.
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.secret,
        client_id: 'kiln',
      });
      if (service) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      init.method = 'POST';
      init.body = form.toString();
      init.headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
    } else {
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      if (creds) {
        const basic = Buffer.from(`${creds.username}:${creds.secret}`).toString('base64');
        init.headers = { Authorization: `Basic ${basic}` };
      }
    }
    const who = creds ? (creds.username ? `user ${creds.username}` : 'an identity token') : 'anonymous';
    let res: Response;
    try {
      res = await this.#fetch(url.toString(), init);
    } catch (error) {
      signal?.throwIfAborted();
      throw new RegistryUnavailableError({
        ...ctx,
        url: realm,
        detail: 'token server unreachable',
        cause: error,
      });
    }
    const body = await res.text();
    if (res.status === 401 || res.status === 403) {
      throw new RegistryUnauthorizedError({
        ...ctx,
        status: res.status,
        url: realm,
        detail: `the token server refused ${who} for ${scopes.join(' ') || 'the registry'}`,
      });
    }
    if (!res.ok) {
      throw new RegistryUnavailableError({
        ...ctx,
        status: res.status,
        url: realm,
        detail: 'token request failed',
      });
    }
    let parsed: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch (error) {
      throw new RegistryProtocolError({
        ...ctx,
        url: realm,
        detail: 'token response is not JSON',
        cause: error,
      });
    }
    const token = parsed.token || parsed.access_token;
    if (!token)
      throw new RegistryProtocolError({ ...ctx, url: realm, detail: 'token response has no token' });
    const lifetime = (parsed.expires_in && parsed.expires_in > 0 ? parsed.expires_in : 60) * 1000;
    const issued = parsed.issued_at ? Date.parse(parsed.issued_at) : NaN;
    const start = Number.isFinite(issued) && issued <= Date.now() ? issued : Date.now();
    this.#logger?.debug({ host, scopes, who, lifetimeMs: lifetime }, 'registry token issued');
    return { token, useUntil: start + lifetime - Math.min(30_000, lifetime / 10) };
  }
}
