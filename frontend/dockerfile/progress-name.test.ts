import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ImageConfig, Platform } from '../../oci/index.js';
import {
  type BuildPlan,
  displayCommand,
  envFromList,
  planBuild,
  platformLabel,
  runCommandArgs,
  showsStageNames,
  stateEnv,
  stepPrefix,
  stepTotal,
} from './index.js';

const testdata = new URL('../../../frontend/dockerfile/testdata/config/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, testdata), 'utf8');
const images = JSON.parse(read('images.json')) as Record<string, ImageConfig>;
const amd64: Platform = { os: 'linux', architecture: 'amd64' };

/** The progress names phase 2 would give the RUN, COPY, ADD and WORKDIR steps of a plan. */
function stepNames(plan: BuildPlan): string[] {
  const names: string[] = [];
  const withStageNames = showsStageNames(plan.dockerfile);
  for (const stage of plan.stages.values()) {
    const node = stage.node;
    const total = stepTotal(node);
    let index = node.baseStage === undefined && node.baseName !== 'scratch' ? 1 : 0;
    let before = stage.start;
    for (const step of stage.steps) {
      const i = step.instruction;
      const state = before;
      before = step.state;
      if (i.kind !== 'run' && i.kind !== 'copy' && i.kind !== 'add' && i.kind !== 'workdir') continue;
      if (i.kind === 'workdir' && step.state.image.config?.WorkingDir === '/') continue;
      index++;
      const summary = i.kind === 'run' ? (runCommandArgs(state.image, i.command).summary ?? '') : '';
      const shown = displayCommand(i.code + summary, {
        lexer: plan.context.lexer,
        env: stateEnv(state),
        run: i.kind === 'run',
      });
      names.push(stepPrefix({ index, total, ...(withStageNames ? { stageName: node.name } : {}) }) + shown);
    }
  }
  return names.sort();
}

describe('progress names: compared with the names BuildKit v0.11.6 gives its LLB steps', () => {
  const expected = JSON.parse(read('names-expected.json')) as Record<string, string[]>;
  for (const [file, want] of Object.entries(expected)) {
    it(file, () => {
      const plan = planBuild({
        dockerfile: read(file),
        buildPlatform: amd64,
        resolveImage: (ref) => structuredClone(images[ref]!),
      });
      assert.deepEqual(stepNames(plan), want);
    });
  }
});

describe('progress names: helpers', () => {
  it('pads the step counter to the width of the total', () => {
    assert.equal(stepPrefix({ index: 3, total: 12 }), '[ 3/12] ');
    assert.equal(
      stepPrefix({ index: 1, total: 2, stageName: 'build', platform: 'linux/arm64' }),
      '[linux/arm64 build 1/2] ',
    );
    assert.equal(stepPrefix({ index: 1, total: 0 }), '');
  });

  it('labels cross-compiling steps with their target platform', () => {
    const env = (list: string[]) => envFromList(list);
    assert.equal(platformLabel(amd64, env([])), 'linux/amd64');
    assert.equal(platformLabel(amd64, env(['TARGETPLATFORM=linux/arm64'])), 'linux/amd64->arm64');
    assert.equal(
      platformLabel(amd64, env(['TARGETOS=windows', 'TARGETARCH=amd64'])),
      'linux/amd64->windows/amd64',
    );
    assert.equal(platformLabel(amd64, env(['TARGETARCH=arm', 'TARGETVARIANT=v7'])), 'linux/amd64->arm/v7');
    assert.equal(platformLabel(amd64, env(['TARGETARCH=amd64'])), 'linux/amd64');
  });
});
