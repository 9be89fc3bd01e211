import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';
import { ListenError } from './errors.js';

/** An answer of an extra route: a whole body, or chunks streamed until they end or the client leaves. */
export interface DebugResponse {
  readonly status: number;
  readonly type: string;
  readonly body: string | Buffer | AsyncIterable<string>;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A request as extra routes see it; `signal` aborts when the client goes away. */
export interface DebugRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly signal: AbortSignal;
}

export interface DebugRoutes {
  readonly metrics: Metrics;
  readonly ready: () => boolean;
  /** More routes (the build view) by path prefix. */
  readonly extra?: ReadonlyMap<string, (url: URL, request: DebugRequest) => Promise<DebugResponse>>;
}

/**
 * The HTTP side of kilnd on the debug address (off unless configured; meant for loopback or a
 * pod network): Prometheus metrics at /metrics, /healthz (alive) and /readyz (taking builds).
 */
export async function startDebugServer(
  address: string,
  routes: DebugRoutes,
  logger: Logger,
): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://kilnd');
    const reply = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type }).end(body);
    };
    void (async () => {
      if (url.pathname === '/metrics')
        return reply(200, 'text/plain; version=0.0.4', await routes.metrics.render());
      if (url.pathname === '/healthz') return reply(200, 'text/plain', 'ok\n');
      if (url.pathname === '/readyz')
        return routes.ready() ? reply(200, 'text/plain', 'ready\n') : reply(503, 'text/plain', 'draining\n');
      for (const [prefix, handler] of routes.extra ?? []) {
        if (url.pathname === prefix || url.pathname.startsWith(`${prefix}/`)) {
          const gone = new AbortController();
          res.once('close', () => gone.abort());
          const r = await handler(url, {
            method: req.method ?? 'GET',
            headers: req.headers,
            signal: gone.signal,
          });
          if (typeof r.body === 'string' || Buffer.isBuffer(r.body)) {
            res.writeHead(r.status, { ...r.headers, 'content-type': r.type }).end(r.body);
            return;
          }
          res.writeHead(r.status, { ...r.headers, 'content-type': r.type });
          for await (const chunk of r.body) res.write(chunk);
          return void res.end();
        }
      }
      reply(404, 'text/plain', 'not found\n');
    })().catch((err: unknown) => {
      logger.warn({ err, path: url.pathname }, 'debug request failed');
      if (!res.headersSent) reply(500, 'text/plain', 'internal error\n');
    });
  });
  const hostPort = address.replace(/^tcp:\/\//, '').replace(/^http:\/\//, '');
  const colon = hostPort.lastIndexOf(':');
  const host = colon > 0 ? hostPort.slice(0, colon) : '127.0.0.1';
  const port = Number(colon >= 0 ? hostPort.slice(colon + 1) : hostPort);
  if (!Number.isInteger(port)) throw new ListenError(address, 'expected host:port');
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError(address, err.message, { cause: err })));
    server.listen(port, host.replace(/^\[|\]$/g, ''), () => resolve());
  });
  logger.info(
    { address: `http://${host}:${(server.address() as { port: number }).port}` },
    'debug server listening',
  );
  return server;
}
