import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { Duplex, PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { StatusSchema } from '../../proto/gen/google/rpc/status_pb.js';
import { GatewayCallError, GatewayConnectionError, GrpcConnection } from './index.js';

/** Two connected in-memory byte streams, as a frontend's stdio and the daemon's end of it. */
function pipePair(): [Duplex, Duplex] {
  const up = new PassThrough();
  const down = new PassThrough();
  return [Duplex.from({ readable: up, writable: down }), Duplex.from({ readable: down, writable: up })];
}

const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const method = (path: string, stream: boolean) => ({
  path,
  requestStream: stream,
  responseStream: stream,
  requestSerialize: raw.serialize,
  requestDeserialize: raw.deserialize,
  responseSerialize: raw.serialize,
  responseDeserialize: raw.deserialize,
});
const service: ServiceDefinition = {
  echo: method('/t.T/Echo', false),
  fail: method('/t.T/Fail', false),
  chat: method('/t.T/Chat', true),
};

// A real grpc-js server (what kilnd serves a frontend) on one end, the SDK's connection on the other.
describe('GrpcConnection over a byte stream', () => {
  let server: Server;
  let connection: GrpcConnection;
  const details = create(StatusSchema, {
    code: status.NOT_FOUND,
    message: 'no such thing: ünïcode',
    details: [
      { typeUrl: 'github.com/moby/buildkit/errdefs.Vertex+json', value: Buffer.from('{"digest":"d"}') },
    ],
  });

  before(() => {
    server = new Server();
    server.addService(service, {
      echo: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
        callback(null, Buffer.concat([Buffer.from('echo:'), call.request])),
      fail: (_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        const metadata = new Metadata();
        metadata.set('grpc-status-details-bin', Buffer.from(toBinary(StatusSchema, details)));
        callback({ code: status.NOT_FOUND, details: details.message, metadata, name: 'e', message: 'e' });
      },
      chat: (call: ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (b: Buffer) => call.write(Buffer.from(b.toString('utf8').toUpperCase())));
        call.on('end', () => call.end());
      },
    });
    const [daemonEnd, frontendEnd] = pipePair();
    server.createConnectionInjector(ServerCredentials.createInsecure()).injectConnection(daemonEnd);
    connection = GrpcConnection.over(frontendEnd);
  });

  after(async () => {
    connection.destroy();
    server.forceShutdown();
  });

  it('makes unary calls, many at once', async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => connection.unary('/t.T/Echo', Buffer.from(String(i)))),
    );
    assert.deepEqual(
      replies.map((r) => r.toString('utf8')),
      Array.from({ length: 20 }, (_, i) => `echo:${i}`),
    );
    const big = Buffer.alloc(3 << 20, 7);
    assert.equal((await connection.unary('/t.T/Echo', big)).length, big.length + 5);
  });

  it('turns an error status into GatewayCallError with its typed details', async () => {
    await assert.rejects(connection.unary('/t.T/Fail', Buffer.from('x')), (err: unknown) => {
      assert.ok(err instanceof GatewayCallError);
      assert.equal(err.grpcCode, status.NOT_FOUND);
      assert.equal(err.kind, 'not-found');
      assert.equal(err.message, 'no such thing: ünïcode');
      assert.deepEqual(err.status?.details, details.details);
      return true;
    });
    await assert.rejects(connection.unary('/t.T/Missing', Buffer.from('x')), (err: unknown) => {
      assert.ok(err instanceof GatewayCallError);
      assert.equal(err.kind, 'unimplemented');
      return true;
    });
  });

  it('streams both ways', async () => {
    const call = connection.call('/t.T/Chat');
    const received: string[] = [];
    const reading = (async () => {
      for await (const m of call) received.push(m.toString('utf8'));
    })();
    for (const word of ['one', 'two', 'three']) await call.send(Buffer.from(word));
    call.end();
    await reading;
    assert.deepEqual(received, ['ONE', 'TWO', 'THREE']);
  });

  it('fails calls with GatewayConnectionError when the daemon goes away', async () => {
    const [daemonEnd, frontendEnd] = pipePair();
    const lonely = GrpcConnection.over(frontendEnd);
    const pending = lonely.unary('/t.T/Echo', Buffer.from('x'));
    daemonEnd.end();
    await assert.rejects(pending, (err: unknown) => err instanceof GatewayConnectionError);
    await assert.rejects(
      async () => lonely.unary('/t.T/Echo', Buffer.from('y')),
      (err: unknown) => err instanceof GatewayConnectionError,
    );
    lonely.destroy();
  });
});
