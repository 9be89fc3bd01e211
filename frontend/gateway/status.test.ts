import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { describe, it } from 'node:test';
import { StatusSchema } from '../../proto/gen/google/rpc/status_pb.js';
import { GatewayCallError, errorStatus, kindOfCode } from './index.js';

const json = (value: Uint8Array) => JSON.parse(Buffer.from(value).toString('utf8')) as unknown;

describe('errorStatus', () => {
  it('maps kinds to gRPC codes and back', () => {
    assert.equal(errorStatus(Object.assign(new Error('x'), { kind: 'not-found' })).code, 5);
    assert.equal(errorStatus(Object.assign(new Error('x'), { kind: 'invalid-argument' })).code, 3);
    assert.equal(errorStatus(new Error('plain')).code, 2);
    assert.equal(errorStatus('a string').message, 'a string');
    assert.equal(kindOfCode(14), 'unavailable');
    assert.equal(kindOfCode(4), 'unknown');
  });

  it('writes Dockerfile lines and the failing vertex as BuildKit’s typed details', () => {
    const cause = Object.assign(new Error('inner'), { vertex: { digest: 'sha256:abc' } });
    const err = Object.assign(new Error('bad line', { cause }), {
      kind: 'invalid-argument',
      source: {
        filename: 'Dockerfile',
        data: Buffer.from('FROM a\n'),
        ranges: [{ start: { line: 1 }, end: { line: 1 } }],
      },
    });
    const status = errorStatus(err);
    assert.equal(status.message, 'bad line');
    assert.deepEqual(
      status.details.map((d) => d.typeUrl),
      ['github.com/moby/buildkit/errdefs.Source+json', 'github.com/moby/buildkit/errdefs.Vertex+json'],
    );
    assert.deepEqual(json(status.details[0]!.value), {
      info: { filename: 'Dockerfile', data: Buffer.from('FROM a\n').toString('base64') },
      ranges: [{ start: { line: 1 }, end: { line: 1 } }],
    });
    assert.deepEqual(json(status.details[1]!.value), { digest: 'sha256:abc' });
  });

  it('keeps the details of an error the daemon sent', () => {
    const received = create(StatusSchema, {
      code: 2,
      message: 'process "/bin/sh -c false" did not complete successfully: exit code: 1',
      details: [
        {
          typeUrl: 'github.com/moby/buildkit/errdefs.Vertex+json',
          value: Buffer.from('{"digest":"sha256:d"}'),
        },
      ],
    });
    const err = new GatewayCallError({
      method: '/x/Solve',
      grpcCode: 2,
      message: received.message,
      status: received,
    });
    const status = errorStatus(new Error('wrapped', { cause: err }));
    assert.equal(status.code, 2);
    assert.deepEqual(status.details, received.details);
  });
});
