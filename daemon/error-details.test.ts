import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { StatusSchema } from '../proto/gen/google/rpc/status_pb.js';
import { detailsMetadata, maxSourceDetailBytes } from './error-details.js';

/** The Dockerfile bytes the Source detail of `err` carries ('' when it carries none). */
function sentSource(err: unknown): string {
  const trailer = detailsMetadata(err, 3, 'bad')!.get('grpc-status-details-bin')[0] as Buffer;
  const detail = fromBinary(StatusSchema, trailer).details[0]!;
  const json = JSON.parse(Buffer.from(detail.value).toString()) as { info: { data?: string } };
  return Buffer.from(json.info.data ?? '', 'base64').toString();
}

const failingAt = (data: string, line: number) =>
  Object.assign(new Error('bad'), {
    source: { filename: 'Dockerfile', data: Buffer.from(data), ranges: [{ start: { line }, end: { line } }] },
  });

// Found by test/reliability/hostile: a trailer past HTTP/2's 64 KiB header block never reaches
// the client, so any error on a Dockerfile over ~48 KB left the build hanging.
describe('error details of large sources', () => {
  const big = 'FROM scratch\nFRM x\n' + 'LABEL k=v\n'.repeat(20_000);

  it('keeps a small source whole', () => {
    assert.equal(sentSource(failingAt('FROM scratch\nFRM x\n', 2)), 'FROM scratch\nFRM x\n');
  });

  it('cuts a large source after the failing line, so line numbers still match', () => {
    assert.equal(sentSource(failingAt(big, 2)), 'FROM scratch\nFRM x\n');
  });

  it('sends no data when the lines up to the failure are too large themselves', () => {
    assert.equal(sentSource(failingAt(big, 19_000)), '');
    const trailer = detailsMetadata(failingAt(big, 19_000), 3, 'bad')!.get('grpc-status-details-bin')[0];
    assert.ok(String(trailer).length < 4 * maxSourceDetailBytes);
  });
});
