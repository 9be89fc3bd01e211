import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';
import { ListenError } from './errors.js';

export interface DebugRoutes {
  readonly metrics: Metrics;
  readonly ready: () => boolean;
  /** More routes (the build view) by path prefix. */
  readonly extra?: ReadonlyMap<
    string,
    (url: URL) => Promise<{ status: number; type: string; body: string | Buffer }>
  >;
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
          const r = await handler(url);
          return reply(r.status, r.type, r.body);
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
