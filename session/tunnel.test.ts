import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client, Server, ServerCredentials, credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import type { Duplex } from 'node:stream';
import type { BytesMessage } from '../proto/gen/moby/buildkit/v1/control_pb.js';
import { http2StreamOf, tunnelDuplex, type SessionCall } from './tunnel.js';
import { bytesMessageCodec } from './wire-codec.js';

const path = '/moby.buildkit.v1.Control/Session';

interface Accepted {
  call: SessionCall;
  tunnel: Duplex;
}

/** A grpc-js server with the Session method only; each call is handed to `tunnelDuplex`. */
async function startServer(
  direct: boolean,
): Promise<{ port: number; accepted: Promise<Accepted>[]; server: Server }> {
  const server = new Server();
  const waiting: ((a: Accepted) => void)[] = [];
  const accepted: Promise<Accepted>[] = [];
  for (let i = 0; i < 8; i++) accepted.push(new Promise((resolve) => waiting.push(resolve)));
  server.addService(
    {
      Session: {
        path,
        requestStream: true,
        responseStream: true,
        requestSerialize: bytesMessageCodec.serialize,
        requestDeserialize: bytesMessageCodec.deserialize,
        responseSerialize: bytesMessageCodec.serialize,
        responseDeserialize: bytesMessageCodec.deserialize,
      },
    },
    {
      Session: (call: SessionCall) => {
        waiting.shift()?.({ call, tunnel: tunnelDuplex(call, { direct }) });
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { port, accepted, server };
}

function openCall(port: number): { client: Client; call: ClientDuplexStream<BytesMessage, BytesMessage> } {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const call = client.makeBidiStreamRequest(path, bytesMessageCodec.serialize, bytesMessageCodec.deserialize);
  return { client, call };
}

function message(data: Uint8Array): BytesMessage {
  return { $typeName: 'moby.buildkit.v1.BytesMessage', data };
}

/** Reads `duplex` to its end slowly (a pause every few chunks), returning the sha256 and length. */
function drainSlowly(duplex: Duplex): Promise<{ sha: string; length: number }> {
  const hash = createHash('sha256');
  let length = 0;
  let n = 0;
  return new Promise((resolve, reject) => {
    duplex.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
      if (++n % 200 !== 0) return;
      duplex.pause();
      setTimeout(() => duplex.resume(), 5);
    });
    duplex.on('end', () => resolve({ sha: hash.digest('hex'), length }));
    duplex.on('error', reject);
  });
}

for (const direct of [true, false]) {
  describe(`session tunnel (${direct ? 'reading the HTTP/2 stream' : "through the call's events"})`, () => {
    let server: Awaited<ReturnType<typeof startServer>>;
    before(async () => {
      server = await startServer(direct);
    });
    after(() => server.server.forceShutdown());

    it('delivers every byte in order under backpressure, ends on half-close, and writes back', async () => {
      const { client, call } = openCall(server.port);
      const { call: serverCall, tunnel } = await server.accepted[0]!;
      assert.equal(http2StreamOf(serverCall) !== undefined, true, 'grpc-js internals no longer reachable');
      const sent = createHash('sha256');
      let total = 0;
      const received = drainSlowly(tunnel);
      // Small and large messages, as a context transfer mixes them; empty ones carry nothing.
      for (let i = 0; i < 3000; i++) {
        const data = i % 7 === 0 ? new Uint8Array(0) : randomBytes(i % 5 === 0 ? 40_000 : (i % 60) + 1);
        sent.update(data);
        total += data.length;
        if (!call.write(message(data))) await new Promise((resolve) => call.once('drain', resolve));
      }
      call.end();
      const got = await received;
      assert.deepEqual(got, { sha: sent.digest('hex'), length: total });
      const replies: Buffer[] = [];
      call.on('data', (m: BytesMessage) => replies.push(Buffer.from(m.data)));
      const status = new Promise<{ code: number }>((resolve) => call.on('status', resolve));
      const ended = new Promise((resolve) => call.on('end', resolve));
      tunnel.end(Buffer.from('reply'));
      await ended;
      assert.equal((await status).code, 0);
      assert.equal(Buffer.concat(replies).toString(), 'reply');
      client.close();
    });

    it('ends the tunnel when the client cancels the call', async () => {
      const { client, call } = openCall(server.port);
      const { tunnel } = await server.accepted[1]!;
      call.on('error', () => undefined);
      call.write(message(Buffer.from('partial')));
      const ended = new Promise<void>((resolve) => tunnel.once('end', () => resolve()));
      const received: Buffer[] = [];
      tunnel.on('data', (chunk: Buffer) => received.push(chunk));
      setTimeout(() => call.cancel(), 50);
      await ended;
      assert.equal(Buffer.concat(received).toString(), 'partial');
      client.close();
    });
  });
}
