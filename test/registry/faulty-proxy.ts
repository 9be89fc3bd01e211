import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy does with one request instead of passing it through untouched. */
export type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly headers?: Record<string, string> }
  /** Pass through, but cut the connection after this many body bytes. */
  | { readonly kind: 'drop-after'; readonly bytes: number }
  /** Pass through, but stop sending (keeping the connection open) after this many body bytes. */
  | { readonly kind: 'stall-after'; readonly bytes: number }
  /** Never answer. */
  | { readonly kind: 'stall' }
  /** Answer 200 with this body instead of the registry's. */
  | { readonly kind: 'replace'; readonly body: Buffer };

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly range?: string;
  readonly authorization?: string;
}

export interface FaultyProxy {
  /** `127.0.0.1:PORT`, to use as the registry host in references. */
  readonly host: string;
  /** Every request, as `METHOD /path[ range]`, plus the faults applied. */
  readonly seen: string[];
  stop(): Promise<void>;
}

/**
 * An HTTP proxy on loopback in front of a registry that can fail requests on demand: `decide`
 * sees each request and returns a fault, or undefined to pass it through.
 */
export async function startFaultyProxy(
  target: string,
  decide: (req: ProxiedRequest) => Fault | undefined = () => undefined,
): Promise<FaultyProxy> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const info: ProxiedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    };
    const fault = decide(info);
    seen.push(
      `${info.method} ${info.path}${info.range ? ` ${info.range}` : ''}${fault ? ` [${fault.kind}]` : ''}`,
    );
    if (fault?.kind === 'stall') return;
    if (fault?.kind === 'replace') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': fault.body.length });
      res.end(fault.body);
      req.resume();
      return;
    }
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, { 'Content-Type': 'application/json', ...fault.headers });
      res.end(JSON.stringify({ errors: [{ code: 'INJECTED', message: `injected ${fault.status}` }] }));
      req.resume();
      return;
    }
    const upstream = request(
      {
        host: target.split(':')[0],
        port: Number(target.split(':')[1]),
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (fault?.kind !== 'drop-after' && fault?.kind !== 'stall-after') {
          up.pipe(res);
          return;
        }
        let sent = 0;
        up.on('data', (chunk: Buffer) => {
          if (sent >= fault.bytes) return;
          const part = chunk.subarray(0, fault.bytes - sent);
          sent += part.length;
          res.write(part);
          if (sent >= fault.bytes) {
            up.destroy();
            if (fault.kind === 'drop-after') res.socket?.destroy();
          }
        });
      },
    );
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
