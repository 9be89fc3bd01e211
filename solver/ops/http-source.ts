import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createWriteStream } from 'node:fs';
import { chmod, chown, rename, utimes } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Database from 'better-sqlite3';
import { Digester, sha256 } from '../../oci/index.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import { SolveRequestError } from '../errors.js';
import { newId } from '../job.js';
import type { LlbOpView } from '../llb-view.js';
import type { CacheMap, OpContext, ResultRef, SolverOp } from '../op.js';

/** What kiln remembers of a URL to revalidate it cheaply (ETag / Last-Modified). */
export class HttpSourceCache {
  readonly #get: Database.Statement<[string], HttpRow>;
  readonly #put: Database.Statement<[string, string, string, string, string]>;

  constructor(options: { db: Database.Database }) {
    options.db.exec(`CREATE TABLE IF NOT EXISTS solver_http_sources (
      url TEXT PRIMARY KEY, etag TEXT NOT NULL, last_modified TEXT NOT NULL, digest TEXT NOT NULL, snapshot TEXT NOT NULL
    )`);
    this.#get = options.db.prepare('SELECT * FROM solver_http_sources WHERE url = ?');
    this.#put = options.db.prepare(
      'INSERT OR REPLACE INTO solver_http_sources (url, etag, last_modified, digest, snapshot) VALUES (?, ?, ?, ?, ?)',
    );
  }

  get(url: string): HttpRow | undefined {
    return this.#get.get(url);
  }

  put(row: HttpRow): void {
    this.#put.run(row.url, row.etag, row.last_modified, row.digest, row.snapshot);
  }
}

interface HttpRow {
  url: string;
  etag: string;
  last_modified: string;
  digest: string;
  snapshot: string;
}

function fileNameOf(url: URL, attr: string | undefined, disposition: string | null): string {
  if (attr) return attr;
  const match = disposition?.match(/filename\*?=(?:UTF-8'')?"?([^";]+)"?/i);
  if (match?.[1]) return basename(decodeURIComponent(match[1]));
  const last = basename(url.pathname);
  return last && last !== '/' ? last : 'index';
}

/**
 * An `http(s)://` source: one file in a new snapshot. With `http.checksum` the key is known up
 * front; otherwise the content is downloaded (or revalidated with ETag/Last-Modified) and its
 * digest is the key.
 */
export class HttpSourceOp implements SolverOp {
  readonly outputs = 1;
  readonly recordType = 'regular';
  readonly #url: URL;
  readonly #attrs: Readonly<Record<string, string>>;
  #snapshot: string | undefined;

  constructor(
    view: LlbOpView,
    private readonly deps: { snapshotter: LocalSnapshotter; httpCache: HttpSourceCache },
  ) {
    if (view.op.op.case !== 'source') throw new Error('not a source op');
    this.#url = new URL(view.op.op.value.identifier);
    this.#attrs = view.op.op.value.attrs;
  }

  #metaKey(content: string): string {
    const a = this.#attrs;
    return sha256(
      JSON.stringify([
        'http',
        content,
        a['http.filename'] ?? '',
        a['http.perm'] ?? '',
        a['http.uid'] ?? '',
        a['http.gid'] ?? '',
      ]),
    );
  }

  async cacheMap(ctx: OpContext): Promise<CacheMap> {
    const checksum = this.#attrs['http.checksum'];
    if (checksum) return { digest: this.#metaKey(checksum), deps: [] };
    return { digest: this.#metaKey(await this.#fetch(ctx)), deps: [] };
  }

  async exec(ctx: OpContext): Promise<readonly ResultRef[]> {
    if (!this.#snapshot) {
      const digest = await this.#fetch(ctx);
      const checksum = this.#attrs['http.checksum'];
      if (checksum && checksum !== digest) {
        throw new SolveRequestError(
          `digest mismatch for ${this.#url.href}: got ${digest}, expected ${checksum}`,
          'failed-precondition',
        );
      }
    }
    return [{ snapshot: this.#snapshot }];
  }

  /** Downloads (or revalidates) the URL into a committed snapshot; returns the content digest. */
  async #fetch(ctx: OpContext): Promise<string> {
    const url = this.#url.href;
    const known = this.deps.httpCache.get(url);
    const headers: Record<string, string> = {};
    if (known?.etag) headers['if-none-match'] = known.etag;
    if (known?.last_modified) headers['if-modified-since'] = known.last_modified;
    const response = await fetch(url, { headers, signal: ctx.signal, redirect: 'follow' }).catch(
      (cause: unknown) => {
        throw new SolveRequestError(`failed to fetch ${url}: ${(cause as Error).message}`, 'unavailable', {
          cause,
        });
      },
    );
    if (response.status === 304 && known) {
      this.#snapshot = await this.#existing(known.snapshot);
      if (this.#snapshot) return known.digest;
    }
    if (!response.ok || !response.body) {
      throw new SolveRequestError(
        `failed to fetch ${url}: ${response.status} ${response.statusText}`,
        'unavailable',
      );
    }
    const { snapshotter } = this.deps;
    const key = `http-active-${newId()}`;
    await snapshotter.prepare(key);
    try {
      const dir = (await snapshotter.writableLayer(key)).dir;
      const name = fileNameOf(
        this.#url,
        this.#attrs['http.filename'],
        response.headers.get('content-disposition'),
      );
      const digester = new Digester();
      const partial = join(dir, `.${name}.partial`);
      let received = 0;
      const started = new Date();
      const total = Number(response.headers.get('content-length') ?? 0);
      await pipeline(
        Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
        new Transform({
          transform(chunk: Buffer, _enc, callback) {
            digester.update(chunk);
            received += chunk.length;
            ctx.progress.status({
              id: `downloading ${url}`,
              name: 'downloading',
              current: received,
              total,
              started,
            });
            callback(null, chunk);
          },
        }),
        createWriteStream(partial, { mode: 0o600 }),
        { signal: ctx.signal },
      );
      const file = join(dir, name);
      await rename(partial, file);
      await chmod(file, Number.parseInt(this.#attrs['http.perm'] ?? '600', 8));
      await chown(file, Number(this.#attrs['http.uid'] ?? 0), Number(this.#attrs['http.gid'] ?? 0));
      const modified = response.headers.get('last-modified');
      if (modified) await utimes(file, new Date(modified), new Date(modified));
      const snapshot = `http-${newId()}`;
      await snapshotter.commit(snapshot, key);
      this.#snapshot = snapshot;
      const digest = digester.digest();
      this.deps.httpCache.put({
        url,
        etag: response.headers.get('etag') ?? '',
        last_modified: modified ?? '',
        digest,
        snapshot,
      });
      return digest;
    } catch (err) {
      await snapshotter.remove(key).catch(() => undefined);
      throw err;
    }
  }

  async #existing(snapshot: string): Promise<string | undefined> {
    return this.deps.snapshotter.stat(snapshot).then(
      () => snapshot,
      () => undefined,
    );
  }
}
