import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTrace } from './index.js';

// Lines as buildctl v0.11.6 writes them with --trace (Go field names, RFC 3339 nanosecond times).
const lines = [
  '{"Vertexes":[{"Digest":"sha256:a","Inputs":null,"Name":"copy context","Started":"2026-11-27T20:00:00.100000000Z","Completed":null,"Cached":false,"Error":"","ProgressGroup":null}],"Statuses":null,"Logs":null,"Warnings":null}',
  '{"Vertexes":[{"Digest":"sha256:b","Inputs":null,"Name":"RUN true","Started":"2026-11-27T20:00:00Z","Completed":"2026-11-27T20:00:00Z","Cached":true,"Error":"","ProgressGroup":null}],"Statuses":null,"Logs":null,"Warnings":null}',
  '{"Vertexes":[{"Digest":"sha256:a","Inputs":null,"Name":"copy context","Started":"2026-11-27T20:00:00.100000000Z","Completed":"2026-11-27T20:00:01.350000000Z","Cached":false,"Error":"","ProgressGroup":null}],"Statuses":null,"Logs":null,"Warnings":null}',
  'not json: a line cut short by a failing build',
];

describe('parseTrace', () => {
  it('times each run vertex from its start to its completion and counts cached ones', () => {
    const trace = parseTrace(lines.join('\n'));
    assert.equal(trace.vertexMs.get('copy context'), 1250);
    assert.equal(trace.vertexMs.has('RUN true'), false);
    assert.equal(trace.cached, 1);
    assert.equal(trace.vertices, 2);
  });

  it('leaves out a vertex that never completed', () => {
    const trace = parseTrace(lines[0]!);
    assert.equal(trace.vertexMs.size, 0);
  });

  it('reads the lower-case spelling kilnctl writes', () => {
    const trace = parseTrace(
      '{"vertexes":[{"digest":"sha256:c","name":"RUN echo","started":"2026-11-27T20:00:00Z","completed":"2026-11-27T20:00:00.250Z"}]}',
    );
    assert.equal(trace.vertexMs.get('RUN echo'), 250);
  });
});
