import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { parseChallenges } from './auth-challenge.js';
import type { AuthContext, Authorizer } from './authorizer.js';
import type { Endpoint } from './hosts.js';
import {
  RegistryDeniedError,
  RegistryNotFoundError,
  RegistryRejectedError,
  RegistryUnauthorizedError,
  RegistryUnavailableError,
  describeCause,
  stripQuery,
  type RegistryError,
} from './errors.js';
import { RegistryResponse } from './response.js';
import { sendStreamed } from './streamed-request.js';

/** Back-off for 429, 5xx and connection failures: `attempts` tries in all, delays doubling. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export interface Timeouts {
  /** From sending a request until its response headers arrive (requests with bodies over 1 MiB: none). */
  readonly requestMs: number;
  /** Longest silence while reading a response body. */
  readonly idleMs: number;
}

export const defaultRetry: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8000 };
export const defaultTimeouts: Timeouts = { requestMs: 30_000, idleMs: 60_000 };

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RegistryRequest {
  readonly method: Method;
  readonly url: string;
  readonly endpoint: Endpoint;
  /** Token scopes the request needs (`repository:library/busybox:pull`). */
  readonly scopes: readonly string[];
  readonly ctx: AuthContext;
  readonly headers?: Readonly<Record<string, string>>;
  /** Bytes are resent on retries; a stream factory is called again for each attempt. */
  readonly body?: Uint8Array | string | (() => Readable);
  /** Retry on 429/5xx and connection errors (default true). */
  readonly retry?: boolean;
  readonly signal?: AbortSignal;
}

/** fetch's init with the undici extensions Node's fetch honours (its typings name an older Dispatcher). */
export type FetchInit = Omit<RequestInit, 'dispatcher'> & { dispatcher?: Dispatcher };

const retryStatus = new Set([408, 429, 500, 502, 503, 504]);
const smallBody = 1024 * 1024;

/**
 * Sends registry requests: adds authorization (learning challenges from 401s and retrying once
 * with fresh credentials), retries with exponential back-off on 429, 5xx and connection errors
 * (honouring Retry-After), and bounds the wait for headers and the silences within bodies. Any
 * status is returned to the caller, which decides what is expected; `fail` turns the rest into
 * the error classes.
 */
export class Transport {
  readonly #auth: Authorizer;
  readonly #retry: RetryPolicy;
  readonly #timeouts: Timeouts;
  readonly #logger: Logger | undefined;

  constructor(options: {
    authorizer: Authorizer;
    retry?: RetryPolicy;
    timeouts?: Timeouts;
    logger?: Logger;
  }) {
    this.#auth = options.authorizer;
    this.#retry = options.retry ?? defaultRetry;
    this.#timeouts = options.timeouts ?? defaultTimeouts;
    this.#logger = options.logger;
  }

  get authorizer(): Authorizer {
    return this.#auth;
  }

  async send(req: RegistryRequest): Promise<RegistryResponse> {
    const { endpoint, signal } = req;
    if (typeof req.body === 'function' && !this.#auth.knows(endpoint.host)) {
      // A stream can only be sent once per attempt: learn the challenge before spending it on a 401.
      await this.send({ ...req, method: 'GET', url: `${endpoint.base}/`, body: undefined, headers: {} }).then(
        (r) => r.discard(),
      );
    }
    let scopes = [...req.scopes];
    // Once to learn a challenge, once more when a fresh token is refused (revoked, expired early).
    let reauthorizations = 0;
    const dispatcher = await endpoint.dispatcher?.();
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      const authorization = await this.#auth.header(endpoint.host, scopes, req.ctx, signal, dispatcher);
      let res: RegistryResponse;
      try {
        res = await this.#once(req, authorization, dispatcher);
      } catch (error) {
        signal?.throwIfAborted();
        if (req.retry === false || attempt >= this.#retry.attempts || hostUnknown(error)) {
          throw new RegistryUnavailableError({
            ...req.ctx,
            url: req.url,
            detail: describeCause(error),
            cause: error,
          });
        }
        await this.#backoff(attempt, undefined, req, describeCause(error));
        continue;
      }
      this.#auth.contacted(endpoint.host);
      if (res.status === 401 && reauthorizations < 2) {
        const challenges = parseChallenges(res.headers.get('www-authenticate') ?? '');
        const extra = challenges.find((c) => c.scheme === 'bearer')?.params.scope;
        if (extra) scopes = [...new Set([...scopes, ...extra.split(' ')])];
        if (await this.#auth.challenged(endpoint.host, challenges, scopes, authorization)) {
          reauthorizations++;
          await res.discard();
          attempt--;
          continue;
        }
      }
      if (retryStatus.has(res.status) && req.retry !== false && attempt < this.#retry.attempts) {
        await res.discard();
        await this.#backoff(attempt, res.headers.get('retry-after'), req, `${res.status}`);
        continue;
      }
      return res;
    }
  }

  async #once(
    req: RegistryRequest,
    authorization: string | undefined,
    dispatcher: Dispatcher | undefined,
  ): Promise<RegistryResponse> {
    const controller = new AbortController();
    const signal = req.signal ? AbortSignal.any([req.signal, controller.signal]) : controller.signal;
    const headers: Record<string, string> = { 'User-Agent': 'kiln', ...req.headers };
    if (authorization) headers.Authorization = authorization;
    if (typeof req.body === 'function') {
      // Streamed uploads have no deadline for their answer (sending the body is part of the
      // wait); a connection silent for the idle time fails them instead.
      const response = await sendStreamed({
        method: req.method,
        url: req.url,
        headers,
        body: req.body(),
        tls: req.endpoint.tls,
        signal,
        idleMs: this.#timeouts.idleMs,
      });
      return this.#wrap(response, req, controller);
    }
    const init: FetchInit = { method: req.method, headers, signal, redirect: 'follow' };
    if (dispatcher) init.dispatcher = dispatcher;
    if (req.body !== undefined) init.body = req.body as FetchInit['body'];
    const bounded = req.body === undefined || req.body.length <= smallBody;
    let timedOut = false;
    const timer = bounded
      ? setTimeout(() => {
          timedOut = true;
          controller.abort(new Error(`no response within ${this.#timeouts.requestMs} ms`));
        }, this.#timeouts.requestMs)
      : undefined;
    try {
      return this.#wrap(await fetch(req.url, init as unknown as RequestInit), req, controller);
    } catch (error) {
      if (timedOut) throw controller.signal.reason;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #wrap(response: Response, req: RegistryRequest, controller: AbortController): RegistryResponse {
    return new RegistryResponse({
      response,
      url: response.url || req.url,
      abort: (reason) => controller.abort(reason),
      idleMs: this.#timeouts.idleMs,
      callerSignal: req.signal,
      ctx: req.ctx,
    });
  }

  async #backoff(attempt: number, retryAfter: string | null | undefined, req: RegistryRequest, why: string) {
    const exponential = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1));
    const asked = retryAfter ? Number(retryAfter) * 1000 : NaN;
    const delay = Number.isFinite(asked)
      ? Math.min(asked, this.#retry.maxDelayMs)
      : exponential * (0.75 + Math.random() * 0.5);
    this.#logger?.debug(
      { url: stripQuery(req.url), attempt, delay: Math.round(delay), why },
      'registry request retried',
    );
    await sleep(delay, undefined, { signal: req.signal });
  }

  /**
   * Turns an unexpected response into the right error class, with the registry's own message
   * (from its `errors` JSON) and, for 401, whether credentials were available at all.
   */
  async fail(res: RegistryResponse, req: RegistryRequest, what?: string): Promise<never> {
    const said = await res.registryMessage();
    const base = { ...req.ctx, status: res.status, url: req.url };
    let error: RegistryError;
    if (res.status === 401) {
      const creds = await this.#auth.credentials(req.endpoint.host).catch(() => undefined);
      const who = creds?.username ? `user ${creds.username}` : 'identity token';
      const detail = creds
        ? `credentials for ${req.endpoint.host} (${who}) were rejected${said ? `: ${said}` : ''}`
        : `authentication required (no credentials for ${req.endpoint.host})`;
      error = new RegistryUnauthorizedError({ ...base, detail: what ? `${what}: ${detail}` : detail });
    } else {
      const detail = [what, said].filter(Boolean).join(': ') || 'unexpected response';
      if (res.status === 403) error = new RegistryDeniedError({ ...base, detail });
      else if (res.status === 404) error = new RegistryNotFoundError({ ...base, detail });
      else if (res.status >= 500 || retryStatus.has(res.status))
        error = new RegistryUnavailableError({ ...base, detail });
      else error = new RegistryRejectedError({ ...base, detail });
    }
    throw error;
  }
}

/**
 * Whether DNS answered that the registry's host does not exist (ENOTFOUND): asking again does not
 * change that answer, so the build fails at once instead of after every back-off. A resolver that
 * could not answer (EAI_AGAIN) is retried like any connection failure.
 */
function hostUnknown(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; i++) {
    if (e.code === 'ENOTFOUND') return true;
    e = e.cause as typeof e;
  }
  return false;
}
