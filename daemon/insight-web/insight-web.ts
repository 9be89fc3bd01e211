import { isIP } from 'node:net';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { BuildHistory, JobRegistry, TreeRecordStore } from '../../solver/index.js';
import { loadAssets, type Asset } from './assets.js';
import { BuildCapture } from './build-capture.js';
import { buildView, ExplanationCache, listBuilds } from './build-view.js';
import { eventStream } from './event-stream.js';

/** A request as the debug server hands it over; `signal` aborts when the client goes away. */
export interface InsightRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly signal: AbortSignal;
}

export interface InsightResponse {
  readonly status: number;
  readonly type: string;
  readonly body: string | Buffer | AsyncIterable<string>;
  readonly headers?: Readonly<Record<string, string>>;
}

export type InsightHandler = (url: URL, request: InsightRequest) => Promise<InsightResponse>;

export interface InsightWebOptions {
  readonly db: Database.Database;
  readonly history: BuildHistory;
  readonly jobs: JobRegistry;
  readonly records: TreeRecordStore;
  /** Where the page's files are (default: the source tree kilnd runs from). */
  readonly assetsDir?: string;
  /** Bytes of logs kept per step (default 64 KiB). */
  readonly logLimit?: number;
  /** Host names the page may be reached by besides IP addresses and localhost. */
  readonly allowedHosts?: readonly string[];
  readonly logger?: Logger;
}

// Everything the page loads comes from kilnd; nothing inline, nothing from elsewhere.
const pageHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const refPattern = /^[A-Za-z0-9._-]{1,128}$/;

const json = (status: number, value: unknown): InsightResponse => ({
  status,
  type: 'application/json; charset=utf-8',
  body: JSON.stringify(value),
  headers: pageHeaders,
});

/**
 * The build view kilnd serves on its debug address: the page (`/`, `/assets/…`), a JSON API
 * (`/api/builds`, `/api/builds/<ref>`) and server-sent events (`/api/events`). It follows every
 * build from the moment the history records it (see BuildCapture), so it must be created before
 * builds start. Requests whose Host is a name other than localhost or `allowedHosts` are refused,
 * so a web page cannot reach the view through DNS rebinding. `close()` ends open event streams
 * and stops following builds; call it before closing the HTTP server.
 */
export class InsightWeb {
  readonly #capture: BuildCapture;
  readonly #explanations: ExplanationCache;
  readonly #assets: ReadonlyMap<string, Asset>;
  readonly #options: InsightWebOptions;
  readonly #closed = new AbortController();

  private constructor(options: InsightWebOptions, assets: ReadonlyMap<string, Asset>) {
    this.#options = options;
    this.#assets = assets;
    this.#capture = new BuildCapture({
      db: options.db,
      history: options.history,
      jobs: options.jobs,
      ...(options.logLimit ? { logLimit: options.logLimit } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.#explanations = new ExplanationCache({ history: options.history, records: options.records });
    this.#capture.subscribe((change) => {
      if (change.type === 'deleted') this.#explanations.clear();
    });
  }

  /** Reads the page's files and starts following builds. Throws InsightAssetMissingError. */
  static async create(options: InsightWebOptions): Promise<InsightWeb> {
    return new InsightWeb(options, await loadAssets(options.assetsDir));
  }

  /** Path prefixes and their handler, for the debug server's `extra` routes. */
  routes(): ReadonlyMap<string, InsightHandler> {
    const handler: InsightHandler = (url, request) => Promise.resolve(this.handle(url, request));
    return new Map([
      ['/', handler],
      ['/assets', handler],
      ['/api', handler],
    ]);
  }

  handle(url: URL, request: InsightRequest): InsightResponse {
    if (!this.#hostAllowed(request.headers['host'])) {
      return { status: 403, type: 'text/plain', body: 'host not allowed\n', headers: pageHeaders };
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return {
        status: 405,
        type: 'text/plain',
        body: 'only GET\n',
        headers: { ...pageHeaders, allow: 'GET' },
      };
    }
    const path = url.pathname;
    if (path === '/' || path.startsWith('/assets/')) {
      const asset = this.#assets.get(path === '/' ? 'index.html' : path.slice('/assets/'.length));
      if (!asset) return { status: 404, type: 'text/plain', body: 'not found\n', headers: pageHeaders };
      return { status: 200, type: asset.type, body: asset.body, headers: pageHeaders };
    }
    if (path === '/api/builds') return json(200, listBuilds(this.#options.history, this.#capture));
    if (path === '/api/events') {
      const signal = AbortSignal.any([request.signal, this.#closed.signal]);
      return {
        status: 200,
        type: 'text/event-stream',
        body: eventStream({ capture: this.#capture, signal }),
        headers: { ...pageHeaders, connection: 'keep-alive' },
      };
    }
    const match = /^\/api\/builds\/([^/]+)$/.exec(path);
    if (match) {
      // Refs are plain words, so the path needs no decoding.
      const ref = match[1]!;
      if (!refPattern.test(ref)) return json(400, { error: `malformed build ref ${JSON.stringify(ref)}` });
      const view = buildView(ref, {
        history: this.#options.history,
        capture: this.#capture,
        explain: (r) => this.#explanations.get(r),
      });
      return view ? json(200, view) : json(404, { error: `no build ${ref} in the history` });
    }
    return json(404, { error: `no such path ${path}` });
  }

  close(): void {
    this.#closed.abort();
    this.#capture.close();
  }

  #hostAllowed(header: string | string[] | undefined): boolean {
    if (typeof header !== 'string') return false;
    let host: string;
    try {
      host = new URL(`http://${header}`).hostname.replace(/^\[|\]$/g, '');
    } catch {
      return false;
    }
    return (
      isIP(host) !== 0 ||
      host === 'localhost' ||
      host.endsWith('.localhost') ||
      (this.#options.allowedHosts ?? []).includes(host)
    );
  }
}
