import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** How an https endpoint verifies the registry (node:https options; absent: Node's defaults). */
export interface EndpointTls {
  readonly rejectUnauthorized: boolean;
  /** Trusted roots: the system's plus the host's `ca` files. */
  readonly ca?: readonly string[];
}

export interface StreamedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Readable;
  readonly tls?: EndpointTls;
  readonly signal: AbortSignal;
  /** Longest silence on the connection, sending or waiting, before the request fails. */
  readonly idleMs: number;
}

/** Statuses whose responses can have no body (the Response constructor refuses one). */
const nullBodyStatus = new Set([204, 205, 304]);

function toResponse(res: IncomingMessage, method: string): Response {
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
    headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) {
    res.destroy();
    throw new Error(`the registry answered with status ${status}`);
  }
  const empty = nullBodyStatus.has(status) || method === 'HEAD';
  if (empty) res.resume();
  const body = empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
  return new Response(body, { status, statusText: res.statusMessage ?? '', headers });
}

/**
 * Sends a request with a streamed body over node:http(s) rather than fetch: fetch carries each
 * chunk of an uploaded body through web streams and copies it, which made a 100 MB layer push
 * cost a fresh daemon about twice the CPU of writing the same bytes to the socket directly. The
 * answer is a fetch Response, so callers read it like any other; redirects are not followed (a
 * stream cannot be sent twice), and the 3xx is returned as it is.
 */
export function sendStreamed(req: StreamedRequest): Promise<Response> {
  const url = new URL(req.url);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const tls = req.tls
    ? { rejectUnauthorized: req.tls.rejectUnauthorized, ca: req.tls.ca as string[] | undefined }
    : {};
  return new Promise((resolve, reject) => {
    const outgoing = send(
      url,
      { method: req.method, headers: req.headers, signal: req.signal, ...tls },
      (res) => {
        try {
          resolve(toResponse(res, req.method));
        } catch (error) {
          reject(error);
        }
      },
    );
    outgoing.on('error', reject);
    outgoing.setTimeout(req.idleMs, () =>
      outgoing.destroy(new Error(`the connection was silent for ${req.idleMs} ms`)),
    );
    // A registry may answer (401, 413) before reading the whole body; the answer is what counts.
    pipeline(req.body, outgoing).catch((error: unknown) => outgoing.destroy(error as Error));
  });
}
