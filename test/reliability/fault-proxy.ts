import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the proxy does to one request instead of passing it through untouched. */
export type Fault =
  /** Answer this status (with `Retry-After` when given) without asking the registry. */
  | { readonly kind: 'status'; readonly status: number; readonly retryAfterSeconds?: number }
  /** Wait `delayMs` before asking the registry, then send its body at `bytesPerSecond` when given. */
  | { readonly kind: 'slow'; readonly delayMs: number; readonly bytesPerSecond?: number }
  /** A clean but short answer: the first `bytes` of the body, with a Content-Length that says so. */
  | { readonly kind: 'truncate'; readonly bytes: number }
  /** The registry's headers and length, with every body byte inverted (so the digest is wrong). */
  | { readonly kind: 'corrupt' }
  /** The registry's headers, then the connection cut after `bytes` of the response body. */
  | { readonly kind: 'drop'; readonly bytes: number }
  /** The connection cut after `bytes` of the request body reached the registry (uploads). */
  | { readonly kind: 'drop-upload'; readonly bytes: number };

/** One line of a schedule: which requests it hits and how often. */
export interface FaultRule {
  readonly method?: string;
  /** Tested against the request path (with query). */
  readonly path: RegExp;
  readonly fault: Fault;
  /** How many matching requests get the fault (default: every one). */
  readonly times?: number;
  /** Matching requests let through before the first fault (default 0). */
  readonly after?: number;
}

/** A fault the proxy applied, as `METHOD /path → kind[ detail]`. */
export interface InjectedFault {
  readonly method: string;
  readonly path: string;
  readonly fault: Fault;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`, to use as the registry host in image references. */
  readonly host: string;
  /**
   * Replaces the schedule: each request takes the first rule it matches that still has faults
   * left; a request no rule takes passes through. Counts start again from zero.
   */
  schedule(rules: readonly FaultRule[]): void;
  /** Faults applied since the last `schedule`. */
  injected(): InjectedFault[];
  /** Every request since the last `schedule`, as `METHOD /path`. */
  requests(): string[];
  stop(): Promise<void>;
}

interface ActiveRule {
  readonly rule: FaultRule;
  seen: number;
  hit: number;
}

/** Inverts every byte: same length, never the same content. */
function invert(chunk: Buffer): Buffer {
  const out = Buffer.allocUnsafe(chunk.length);
  for (let i = 0; i < chunk.length; i++) out[i] = ~chunk[i]! & 0xff;
  return out;
}

/** Writes `chunk` in pieces so the whole takes about `chunk.length / bytesPerSecond` seconds. */
async function throttled(res: ServerResponse, chunk: Buffer, bytesPerSecond: number): Promise<void> {
  const piece = Math.max(1, Math.floor(bytesPerSecond / 20));
  for (let at = 0; at < chunk.length; at += piece) {
    if (res.destroyed) return;
    res.write(chunk.subarray(at, at + piece));
    await sleep(50);
  }
}

/**
 * An HTTP proxy on loopback in front of a registry (`target` is `host:port`) that injects the
 * faults a schedule names: error statuses, slow answers, short, corrupt or cut bodies, and cut
 * uploads. It speaks plain HTTP on both sides, like the fixture registry.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  let rules: ActiveRule[] = [];
  let injected: InjectedFault[] = [];
  let requests: string[] = [];
  const sockets = new Set<Socket>();

  const choose = (method: string, path: string): Fault | undefined => {
    for (const active of rules) {
      const { rule } = active;
      if ((rule.method && rule.method !== method) || !rule.path.test(path)) continue;
      active.seen++;
      if (active.seen <= (rule.after ?? 0)) return undefined;
      if (active.hit >= (rule.times ?? Infinity)) continue;
      active.hit++;
      return rule.fault;
    }
    return undefined;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res).catch(() => res.socket?.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    requests.push(`${method} ${path}`);
    const fault = choose(method, path);
    if (fault) injected.push({ method, path, fault });
    if (fault?.kind === 'status') {
      req.resume();
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
      res.writeHead(fault.status, headers);
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${fault.status}` }] }));
      return;
    }
    if (fault?.kind === 'slow') await sleep(fault.delayMs);
    const upstream = request({
      host: targetHost,
      port: Number(targetPort),
      method,
      path,
      headers: req.headers,
    });
    upstream.on('error', () => res.socket?.destroy());
    upstream.on('response', (up: IncomingMessage) => void answer(up, fault, res));
    if (fault?.kind !== 'drop-upload') {
      req.pipe(upstream);
      return;
    }
    let sent = 0;
    req.on('data', (chunk: Buffer) => {
      if (sent >= fault.bytes) return;
      const part = chunk.subarray(0, fault.bytes - sent);
      sent += part.length;
      upstream.write(part);
      if (sent >= fault.bytes) {
        // Let the registry take what was sent, then cut both sides as a broken network would.
        setTimeout(() => {
          upstream.destroy();
          req.socket.destroy();
        }, 50);
      }
    });
    req.on('end', () => {
      if (sent < fault.bytes) upstream.end();
    });
  }

  async function answer(up: IncomingMessage, fault: Fault | undefined, res: ServerResponse): Promise<void> {
    const status = up.statusCode ?? 502;
    // Only successful bodies are damaged: an error answer is the registry's own.
    const damaging = fault && status >= 200 && status < 300 ? fault : undefined;
    if (damaging?.kind === 'truncate') {
      const body = await collect(up, damaging.bytes);
      const headers = { ...up.headers, 'content-length': String(body.length) };
      res.writeHead(status, headers);
      res.end(body);
      return;
    }
    res.writeHead(status, up.headers);
    if (!damaging || damaging.kind === 'drop-upload' || damaging.kind === 'status') {
      up.pipe(res);
      return;
    }
    let sent = 0;
    for await (const data of up) {
      let chunk = data as Buffer;
      if (damaging.kind === 'corrupt') chunk = invert(chunk);
      if (damaging.kind === 'drop') {
        chunk = chunk.subarray(0, damaging.bytes - sent);
        sent += chunk.length;
        res.write(chunk);
        if (sent >= damaging.bytes) {
          up.destroy();
          res.socket?.destroy();
          return;
        }
        continue;
      }
      if (damaging.kind === 'slow' && damaging.bytesPerSecond) {
        await throttled(res, chunk, damaging.bytesPerSecond);
      } else {
        res.write(chunk);
      }
    }
    res.end();
  }

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    schedule(next) {
      rules = next.map((rule) => ({ rule, seen: 0, hit: 0 }));
      injected = [];
      requests = [];
    },
    injected: () => [...injected],
    requests: () => [...requests],
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The first `limit` bytes of a stream (the rest is read and dropped). */
async function collect(stream: IncomingMessage, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const data of stream) {
    const chunk = (data as Buffer).subarray(0, Math.max(0, limit - length));
    parts.push(chunk);
    length += chunk.length;
  }
  return Buffer.concat(parts);
}
