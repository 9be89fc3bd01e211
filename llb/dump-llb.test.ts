import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { toJson } from '@bufbuild/protobuf';
import { OpMetadataSchema, OpSchema, type OpMetadata, type Op } from '../proto/gen/pb/ops_pb.js';
import { realBuildctlPath } from '../test/fixtures/kilnd.js';
import { decodeDefinitionBytes } from './index.js';

// `buildctl debug dump-llb` (BuildKit's own decoder) and ours must agree on every op, digest and
// metadata entry of the golden definitions.

const golden = (
  JSON.parse(readFileSync(new URL('../../llb/testdata/golden.json', import.meta.url), 'utf8')) as {
    graphs: { name: string; definition: string }[];
  }
).graphs;

const buildctl = realBuildctlPath();

type Json = null | boolean | string | number | Json[] | { [key: string]: Json };

// Go's encoding/json spells oneof wrappers as the Go field (`Op`, `Action`, `User`), field names
// as the proto names, 64-bit integers as numbers; protobuf-es uses camelCase JSON names, strings
// for 64-bit integers and no wrappers. Both sides are brought to one form: wrappers flattened,
// keys lower-cased without underscores, numbers as strings, zero values and empty containers gone.
function normalise(value: Json): Json {
  if (Array.isArray(value)) return value.map(normalise);
  if (typeof value === 'number') return String(value);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, Json> = {};
  const put = (key: string, v: Json): void => {
    const n = normalise(v);
    const empty =
      n === null ||
      n === '' ||
      n === '0' ||
      n === false ||
      (Array.isArray(n) && n.length === 0) ||
      (typeof n === 'object' && n !== null && !Array.isArray(n) && Object.keys(n).length === 0);
    if (!empty) out[key.toLowerCase().replaceAll('_', '')] = n;
  };
  for (const [key, v] of Object.entries(value)) {
    if (
      (key === 'Op' || key === 'Action' || key === 'User') &&
      v !== null &&
      typeof v === 'object' &&
      !Array.isArray(v)
    ) {
      for (const [k2, v2] of Object.entries(v)) put(k2, v2);
    } else put(key, v);
  }
  return out;
}

// Quotes every number in Go's JSON so 64-bit values (timestamps) survive JSON.parse exactly.
function parseGoJson(line: string): Json {
  return JSON.parse(
    line.replace(/("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g, (m, str: string) =>
      str !== undefined ? str : `"${m}"`,
    ),
  ) as Json;
}

function ours(op: Op, md: OpMetadata | undefined): { op: Json; md: Json } {
  return {
    op: normalise(toJson(OpSchema, op, { enumAsInteger: true }) as Json),
    md: md ? normalise(toJson(OpMetadataSchema, md, { enumAsInteger: true }) as Json) : {},
  };
}

describe(
  'decodeDefinition agrees with buildctl debug dump-llb',
  { skip: buildctl ? false : 'no buildctl at /tmp/bk/buildctl (or $BUILDCTL)' },
  () => {
    for (const g of golden) {
      it(`${g.name}: same ops, digests and metadata`, () => {
        const bytes = Buffer.from(g.definition, 'base64');
        const run = spawnSync(buildctl!, ['debug', 'dump-llb'], { input: bytes, encoding: 'utf8' });
        assert.equal(run.status, 0, run.stderr);
        const dumped = run.stdout
          .trim()
          .split('\n')
          .map((line) => parseGoJson(line) as { Op: Json; Digest: string; OpMetadata: Json });
        const graph = decodeDefinitionBytes(bytes);
        const view = [
          ...[...graph.vertices.values()].map((v) => ({ digest: v.digest, ...ours(v.op, v.metadata) })),
          { digest: graph.terminal.digest, ...ours(graph.terminal.op, graph.terminal.metadata) },
        ];
        assert.deepEqual(
          view.map((v) => v.digest),
          dumped.map((d) => d.Digest),
        );
        dumped.forEach((d, i) => {
          assert.deepEqual(view[i]!.op, normalise(d.Op), `op ${d.Digest}`);
          assert.deepEqual(view[i]!.md, normalise(d.OpMetadata), `metadata of ${d.Digest}`);
        });
        assert.ok(dumped.length >= 2);
      });
    }
  },
);
