import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type KilndProcess, buildctlPath, startKilnd } from '../fixtures/kilnd.js';
import {
  type BaseTrees,
  type EntryResult,
  baseTrees,
  buildEntry,
  fixturesRoot,
  loadCorpus,
} from './corpus.js';
import { type CorpusEnvironment, startCorpusEnvironment } from './environment.js';
import { buildInfoKey } from './image-configs.js';

// Every corpus entry built through kilnd with the real buildctl, exactly as a user would, and
// compared with what BuildKit v0.11.6 produced for it (test/dockerfile/fixtures, recorded by
// record.ts): the exported file tree and the image config apart from timestamps, the Dockerfile
// lines of failing builds, and the output of subrequests.
const client = buildctlPath();
const entries = loadCorpus();

/**
 * Entries that fail because of a solver gap outside the frontend (the LLB equals BuildKit's; see
 * frontend/dockerfile/convert/convert.test.ts). They run and report as TODO until fixed.
 */
const knownIssues: Readonly<Record<string, string>> = {};

function fixture(name: string): EntryResult {
  return JSON.parse(readFileSync(join(fixturesRoot, `${name}.json`), 'utf8')) as EntryResult;
}

/**
 * Image configs without the build information BuildKit v0.11.6's image exporter embeds
 * (`moby.buildkit.buildinfo.v1`, deprecated upstream since v0.12): the exporter, not the frontend,
 * writes it, and kiln's exporters return it as the `containerimage.buildinfo` response instead.
 */
function withoutBuildInfo(configs: Readonly<Record<string, unknown>> | undefined) {
  if (!configs) return configs;
  return Object.fromEntries(
    Object.entries(configs).map(([platform, config]) => {
      const { [buildInfoKey]: _info, ...rest } = config as Record<string, unknown>;
      return [platform, rest];
    }),
  );
}

describe(
  'Dockerfile corpus through kilnd and buildctl, against BuildKit v0.11.6',
  { skip: !client && 'no buildctl (set BUILDCTL or build /tmp/bk/buildctl)' },
  () => {
    let env: CorpusEnvironment;
    let kilnd: KilndProcess;
    let bases: BaseTrees;
    let work: string;

    before(async () => {
      env = await startCorpusEnvironment();
      kilnd = await startKilnd();
      work = join(env.dir, 'work');
      bases = await baseTrees({ buildctl: client!, address: kilnd.address, env, work });
    });

    after(async () => {
      await kilnd?.dispose();
      await env?.stop();
    });

    it('exports the busybox base images as BuildKit does', () => {
      const recorded = JSON.parse(readFileSync(join(fixturesRoot, '_bases.json'), 'utf8')) as BaseTrees;
      assert.deepEqual(bases, recorded);
    });

    it('covers at least 60 Dockerfiles, each with a recorded result', () => {
      assert.ok(entries.length >= 60, `${entries.length} entries`);
      for (const entry of entries) assert.doesNotThrow(() => fixture(entry.name), entry.name);
    });

    for (const entry of entries) {
      const todo = knownIssues[entry.name];
      it(entry.name, todo ? { todo } : {}, async () => {
        const expected = fixture(entry.name);
        const { log, ...actual } = await buildEntry({
          buildctl: client!,
          address: kilnd.address,
          env,
          entry,
          work: join(work, entry.name),
          bases,
        }).catch((err: Error) => {
          throw new Error(`${err.message}\n--- kilnd log tail ---\n${kilnd.logs().slice(-4000)}`);
        });
        const context = `\n--- buildctl output ---\n${log.slice(-6000)}`;
        assert.deepEqual(actual.trees, expected.trees, `file tree of ${entry.name}${context}`);
        assert.deepEqual(
          withoutBuildInfo(actual.configs),
          withoutBuildInfo(expected.configs),
          `image config of ${entry.name}${context}`,
        );
        assert.equal(actual.stdout, expected.stdout, `subrequest output of ${entry.name}`);
        assert.deepEqual(
          actual.errorLines,
          expected.errorLines,
          `Dockerfile lines shown for ${entry.name}${context}`,
        );
      });
    }
  },
);
