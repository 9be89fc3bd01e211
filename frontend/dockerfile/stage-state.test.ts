import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageConfig, Platform } from '../../oci/index.js';
import {
  DockerfileError,
  type StageContext,
  ShellLexer,
  dispatchInstruction,
  emptyImageConfig,
  marshalImageConfig,
  parseDockerfile,
  parseStages,
  planBuild,
  platformArgs,
  proxyEnvFromBuildArgs,
  requiredImages,
  resolveMetaArgs,
  runCommandArgs,
  startStage,
  stateEnv,
} from './index.js';

const amd64: Platform = { os: 'linux', architecture: 'amd64' };
const base: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [] },
  config: { Env: ['PATH=/bin', 'HOME=/root'], Cmd: ['sh'], OnBuild: ['ENV TRIGGERED=1'] },
};

function context(buildArgs: Record<string, string> = {}, metaText = 'FROM scratch'): StageContext {
  const lexer = new ShellLexer();
  const args = new Map(Object.entries(buildArgs));
  const meta = resolveMetaArgs({
    metaArgs: parseStages(parseDockerfile(metaText)).metaArgs,
    platformArgs: platformArgs({ buildPlatform: amd64, targetPlatform: amd64, buildArgs: args }),
    buildArgs: args,
    lexer,
  });
  return { lexer, metaArgs: meta.values, metaArgInfos: meta.infos, buildArgs: args, targetPlatform: amd64 };
}

describe('stage state: step by step', () => {
  it('starts from an image: PATH kept, env in LLB order, ONBUILD triggers handed back', () => {
    const { state, onbuild } = startStage(context(), {
      base: { kind: 'image', config: base },
      platform: amd64,
    });
    assert.deepEqual(state.env, ['PATH=/bin', 'HOME=/root']);
    assert.deepEqual(onbuild, ['ENV TRIGGERED=1']);
    assert.equal(state.image.config?.OnBuild, undefined);
    assert.equal(base.config?.OnBuild?.length, 1, 'the base config is not modified');
  });

  it('keeps two environments: LLB moves a re-set key to the end, the image replaces it in place', () => {
    const ctx = context();
    let { state } = startStage(ctx, { base: { kind: 'image', config: base }, platform: amd64 });
    const steps = parseStages(parseDockerfile('FROM x\nENV PATH=/usr/bin:$PATH A=1\nARG B=2\nRUN echo'))
      .stages[0]!.commands;
    for (const instruction of steps) state = dispatchInstruction(ctx, state, instruction).state;
    assert.deepEqual(state.env, ['HOME=/root', 'PATH=/usr/bin:/bin', 'A=1', 'B=2']);
    assert.deepEqual(state.image.config?.Env, ['PATH=/usr/bin:/bin', 'HOME=/root', 'A=1']);
    assert.deepEqual(state.buildArgs, [{ key: 'B', value: '2' }]);
    assert.deepEqual(
      state.image.history?.map((h) => h.created_by),
      ['ENV PATH=/usr/bin:/bin A=1', 'ARG B=2', 'RUN |1 B=2 /bin/sh -c echo # buildkit'],
    );
    assert.equal(stateEnv(state).get('B'), '2');
  });

  it('lets a stage inherit its base stage state, ARG values included (as BuildKit v0.11.6 does)', () => {
    const plan = planBuild({
      dockerfile: 'FROM scratch AS a\nARG X=1\nFROM a\nRUN echo $X\n',
      buildPlatform: amd64,
      resolveImage: () => base,
    });
    const last = plan.stages.get(1)!;
    assert.ok(last.final.env.includes('X=1'));
    assert.deepEqual(last.final.buildArgs, []);
    assert.equal(last.final.image.history?.at(-1)?.created_by, 'RUN /bin/sh -c echo $X # buildkit');
  });

  it('runs ONBUILD triggers of the base first and records them as steps', () => {
    const plan = planBuild({
      dockerfile: 'FROM base\nRUN true\n',
      buildPlatform: amd64,
      resolveImage: () => base,
    });
    const stage = plan.stages.get(0)!;
    assert.deepEqual(
      stage.steps.map((s) => [s.instruction.kind, s.onbuild]),
      [
        ['env', true],
        ['run', false],
      ],
    );
    assert.ok(plan.image.config?.Env?.includes('TRIGGERED=1'));
    assert.equal(stage.baseImage, 'docker.io/library/base:latest');
  });

  it('lists the base images a plan will resolve, with their platforms', () => {
    const dockerfile = [
      'ARG TAG=3',
      'FROM --platform=$BUILDPLATFORM golang:1.20 AS build',
      'FROM alpine:$TAG AS unused',
      'FROM build AS test',
      'FROM scratch',
      'COPY --from=test / /',
      'FROM --platform=arm64 busybox',
      'COPY --from=build / /',
      'COPY --from=alpine:3.18 / /',
    ].join('\n');
    const arm: Platform = { os: 'linux', architecture: 'arm', variant: 'v7' };
    const needed = requiredImages({ dockerfile, buildPlatform: amd64, targetPlatform: arm });
    assert.deepEqual(
      needed.map(({ stage, use, name, ref, platform, explicitPlatform }) => ({
        stage,
        use,
        name,
        ref,
        platform,
        explicitPlatform,
      })),
      [
        {
          stage: 0,
          use: 'base',
          name: 'golang:1.20',
          ref: 'docker.io/library/golang:1.20',
          platform: amd64,
          explicitPlatform: true,
        },
        {
          stage: 4,
          use: 'base',
          name: 'busybox',
          ref: 'docker.io/library/busybox:latest',
          platform: { os: 'linux', architecture: 'arm64' },
          explicitPlatform: true,
        },
        {
          stage: 4,
          use: 'from',
          name: 'alpine:3.18',
          ref: 'docker.io/library/alpine:3.18',
          platform: arm,
          explicitPlatform: false,
        },
      ],
    );
    assert.deepEqual(needed[2]!.location, { start: 9, end: 9 });
    assert.deepEqual(
      requiredImages({ dockerfile, buildPlatform: amd64, target: 'unused' }).map((r) => r.ref),
      ['docker.io/library/alpine:3'],
    );
  });

  it('writes the newer HEALTHCHECK --start-interval into config and history', () => {
    const plan = planBuild({
      dockerfile: 'FROM scratch\nHEALTHCHECK --interval=30s --start-interval=2s --retries=3 CMD ["true"]\n',
      buildPlatform: amd64,
      resolveImage: () => base,
    });
    assert.deepEqual(plan.image.config?.Healthcheck, {
      Test: ['CMD', 'true'],
      Interval: 30e9,
      Timeout: 0,
      StartPeriod: 0,
      StartInterval: 2e9,
      Retries: 3,
    });
    assert.equal(
      plan.image.history?.at(-1)?.created_by,
      `HEALTHCHECK &{["CMD" "true"] "30s" "0s" "0s" "2s" '\\x03'}`,
    );
    assert.match(
      marshalImageConfig(plan.image),
      /"Healthcheck":\{"Test":\["CMD","true"\],"Interval":30000000000,"StartInterval":2000000000,"Retries":3\}/,
    );
  });

  it('reports instruction failures at their lines', () => {
    assert.throws(
      () =>
        planBuild({
          dockerfile: 'FROM scratch\n\nSTOPSIGNAL SIGNOPE\n',
          buildPlatform: amd64,
          resolveImage: () => base,
        }),
      (err: unknown) =>
        err instanceof DockerfileError && err.startLine === 3 && err.message === 'invalid signal: SIGNOPE',
    );
    assert.throws(
      () =>
        planBuild({
          dockerfile: 'FROM nothere\n',
          buildPlatform: amd64,
          resolveImage: () => {
            throw new Error('not found');
          },
        }),
      (err: unknown) =>
        err instanceof DockerfileError && err.startLine === 1 && err.message === 'nothere: not found',
    );
  });
});

describe('run command and helpers', () => {
  const image = emptyImageConfig(amd64);
  it('runs a lone heredoc in the shell, a shebang heredoc as a script', () => {
    const cmd = (data: string, chomp = false) => ({
      args: ['<<EOF'],
      prependShell: true,
      files: [{ name: 'EOF', data, chomp }],
    });
    assert.deepEqual(runCommandArgs(image, cmd('echo a\necho b\n')), {
      args: ['/bin/sh', '-c', 'echo a\necho b\n'],
      summary: ' (echo a...)',
    });
    assert.deepEqual(runCommandArgs(image, cmd('#!/usr/bin/env python3\nprint(1)\n')), {
      args: ['/bin/sh', '-c', '/dev/pipes/EOF'],
      script: { name: 'EOF', data: '#!/usr/bin/env python3\nprint(1)\n' },
      summary: ' (#!/usr/bin/env python3...)',
    });
    assert.deepEqual(runCommandArgs(image, cmd('\techo tab\n', true)).args, ['/bin/sh', '-c', 'echo tab\n']);
    const windows = { ...image, os: 'windows' };
    assert.deepEqual(runCommandArgs(windows, cmd('#!x\n')).args, ['cmd', '/S', '/C', '#!x\n']);
    assert.throws(
      () =>
        runCommandArgs(image, {
          args: ['a', 'b'],
          prependShell: false,
          files: [{ name: 'E', data: '', chomp: false }],
        }),
      /parsing produced an invalid run command: \[a b\]/,
    );
  });

  it('takes the proxy settings from build args only', () => {
    assert.equal(proxyEnvFromBuildArgs(new Map([['FOO', '1']])), undefined);
    assert.deepEqual(
      proxyEnvFromBuildArgs(
        new Map([
          ['http_proxy', 'a'],
          ['HTTP_PROXY', 'b'],
          ['No_Proxy', 'c'],
          ['ALL_PROXY', 'd'],
        ]),
      ),
      { httpProxy: 'b', noProxy: 'c', allProxy: 'd' },
    );
  });

  it('keeps undeclared proxy build args out of the history', () => {
    const plan = planBuild({
      dockerfile: 'FROM scratch\nRUN a\nARG HTTPS_PROXY\nRUN b\n',
      buildPlatform: amd64,
      buildArgs: new Map([
        ['HTTP_PROXY', 'http://p'],
        ['HTTPS_PROXY', 'http://s'],
      ]),
      resolveImage: () => base,
    });
    assert.deepEqual(
      plan.image.history?.map((h) => h.created_by),
      [
        'RUN /bin/sh -c a # buildkit',
        'ARG HTTPS_PROXY',
        'RUN |1 HTTPS_PROXY=http://s /bin/sh -c b # buildkit',
      ],
    );
  });

  it('marshals configs in Go field order with sorted maps and Go escaping', () => {
    const json = marshalImageConfig({
      ...emptyImageConfig(amd64),
      config: {
        Labels: { b: '<&>', a: '1' },
        Volumes: { '/z': {}, '/a': {} },
        User: 'u',
        OnBuild: ['RUN x'],
      },
    });
    assert.equal(
      json,
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":null},"config":{"User":"u","Volumes":{"/a":{},"/z":{}},"Labels":{"a":"1","b":"\\u003c\\u0026\\u003e"},"OnBuild":["RUN x"]}}',
    );
  });
});
