import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runKilnctl } from '../../client/testing/run-kilnctl.js';
import { buildctl } from '../fixtures/buildctl.js';
import { buildctlPath } from '../fixtures/kilnd.js';
import { latestRef, startInsightEnvironment, type InsightEnvironment } from './harness.js';

interface Explained {
  ref: string;
  previous?: string;
  argsChanged: Array<{ key: string; before?: string; after?: string }>;
  steps: Array<{
    name: string;
    state: string;
    reason?: { kind: string; [k: string]: unknown };
    summary?: string;
  }>;
  criticalPath: Array<{ name: string; durationMs: number }>;
  totalMs: number;
}

/** The line of the report's misses table naming `step`. */
function missLine(report: string, step: string): string {
  const misses = report.slice(report.indexOf('Cache misses:'), report.indexOf('Critical path'));
  const line = misses.split('\n').find((l) => l.trimStart().startsWith(step));
  assert.ok(line, `no miss line for ${step} in:\n${misses}`);
  return line;
}

describe('kilnctl explain (issue 15)', { skip: buildctlPath() ? false : 'no buildctl' }, () => {
  let env: InsightEnvironment;
  let project: string;

  const explain = async (args: readonly string[] = []): Promise<string> => {
    const r = await runKilnctl(env.daemon.address, ['explain', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.toString();
  };
  const explainJson = async (args: readonly string[] = []): Promise<Explained> =>
    JSON.parse(await explain(['--format', 'json', ...args])) as Explained;

  before(async () => {
    env = await startInsightEnvironment();
    project = await env.writeFiles('project', {
      Dockerfile: [
        `FROM ${env.busybox} AS base`,
        'ARG V=1',
        'RUN echo v=$V > /v',
        'FROM base AS build',
        'COPY src /app',
        'RUN cat /app/* > /all',
        `FROM ${env.busybox}`,
        'COPY --from=build /all /all',
        'RUN wc -c /all',
        '',
      ].join('\n'),
      'src/a.txt': 'a\n',
      'src/b.txt': 'b\n',
    });
  });

  after(async () => {
    await env?.stop();
  });

  it('says a first build has nothing to compare with', async () => {
    assert.equal((await env.dockerBuild(project)).code, 0);
    const report = await explain();
    assert.match(report, /^Build \w+: 9 of 9 steps ran, 0 from the cache/m);
    assert.match(report, /No earlier build of the same target to compare with\./);
    assert.match(missLine(report, '[build 1/2] COPY src /app'), /no earlier build of this target/);
  });

  it('names the changed file behind the COPY miss and the steps after it as parent changes (acceptance)', async () => {
    const first = await latestRef(env);
    await writeFile(join(project, 'src', 'b.txt'), 'b changed\n');
    assert.equal((await env.dockerBuild(project)).code, 0);
    const report = await explain();
    assert.match(report, new RegExp(`Compared with ${first}, the previous build of the same target`));
    assert.match(
      missLine(report, '[build 1/2] COPY src /app'),
      /files changed in \[internal\] load build context: changed src\/b\.txt$/,
    );
    assert.match(missLine(report, '[internal] load build context'), /changed src\/b\.txt/);
    assert.match(
      missLine(report, '[build 2/2] RUN cat /app/* > /all'),
      /its parent changed: \[build 1\/2\] COPY src \/app$/,
    );
    assert.match(
      missLine(report, '[stage-2 2/3] COPY --from=build /all /all'),
      /its parent's content changed: \[build 2\/2\] RUN cat/,
    );
    assert.match(
      missLine(report, '[stage-2 3/3] RUN wc -c /all'),
      /its parent changed: \[stage-2 2\/3\] COPY --from=build/,
    );
    // Steps before the change came from the cache and are no misses.
    assert.ok(!report.slice(0, report.indexOf('Critical path')).includes('RUN echo v=1'));

    const json = await explainJson();
    assert.equal(json.previous, first);
    const copy = json.steps.find((s) => s.name === '[build 1/2] COPY src /app')!;
    assert.deepEqual(copy.reason, {
      kind: 'files-changed',
      input: '[internal] load build context',
      added: [],
      removed: [],
      changed: ['src/b.txt'],
    });
    assert.equal(json.steps.find((s) => s.name === '[base 2/2] RUN echo v=1 > /v')!.state, 'cached');
  });

  it('prints the critical path with each step time, ending at the last step', async () => {
    const report = await explain();
    const section = report.slice(report.indexOf('Critical path'));
    const header = /^Critical path \((\S+) of (\S+)\):$/m.exec(section);
    assert.ok(header, section);
    const lines = section.trim().split('\n').slice(1);
    assert.ok(lines.length >= 3, section);
    for (const line of lines) assert.match(line, /\s\d+(ms|\.\d\ds)(\s|$)/, line);
    assert.match(lines.at(-1)!, /\[stage-2 3\/3\] RUN wc -c \/all/);
    const json = await explainJson();
    assert.deepEqual(
      json.criticalPath.slice(-3).map((s) => s.name),
      [
        '[build 2/2] RUN cat /app/* > /all',
        '[stage-2 2/3] COPY --from=build /all /all',
        '[stage-2 3/3] RUN wc -c /all',
      ],
    );
    const sum = json.criticalPath.reduce((t, s) => t + s.durationMs, 0);
    assert.ok(sum <= json.totalMs, `critical path ${sum} ms within the build's ${json.totalMs} ms`);
  });

  it('names a changed build arg as the reason a RUN step changed', async () => {
    assert.equal((await env.dockerBuild(project, ['--opt', 'build-arg:V=2'])).code, 0);
    const report = await explain();
    assert.match(report, /Build args changed:\n {2}V: default -> 2\n/);
    assert.match(
      missLine(report, '[base 2/2] RUN echo v=2 > /v'),
      /the step changed: build arg V \(default -> 2\)$/,
    );
    // The arg is in the environment of the next stage's RUN too.
    assert.match(missLine(report, '[build 2/2] RUN cat /app/* > /all'), /build arg V \(default -> 2\)/);
    assert.match(
      missLine(report, '[build 1/2] COPY src /app'),
      /its parent changed: \[base 2\/2\] RUN echo v=2/,
    );
    const json = await explainJson();
    assert.deepEqual(json.steps.find((s) => s.name.startsWith('[base 2/2]'))!.reason, {
      kind: 'step-changed',
      changes: ['env:V'],
    });
  });

  it('names the new digest of a re-pushed base image, compared with the same project', async () => {
    const baseRef = `${env.registry.host}/test/base:latest`;
    const baseDir = await env.writeFiles('base', {});
    const pushBase = async (version: string) => {
      await writeFile(join(baseDir, 'Dockerfile'), `FROM ${env.busybox}\nRUN echo ${version} > /base\n`);
      const r = await buildctl(env.daemon.address, [
        'build',
        '--frontend',
        'dockerfile.v0',
        '--local',
        `context=${baseDir}`,
        '--local',
        `dockerfile=${baseDir}`,
        '--output',
        `type=image,name=${baseRef},push=true,registry.insecure=true`,
      ]);
      assert.equal(r.code, 0, r.stderr);
    };
    const app = await env.writeFiles('app', { Dockerfile: `FROM ${baseRef}\nRUN cat /base > /copy\n` });
    await pushBase('one');
    assert.equal((await env.dockerBuild(app)).code, 0);
    const appFirst = await latestRef(env);
    // A build of another project in between must not be taken for the previous one.
    await pushBase('two');
    assert.equal((await env.dockerBuild(app)).code, 0);
    const json = await explainJson();
    assert.equal(json.previous, appFirst);
    const report = await explain();
    const host = env.registry.host.replace(/[.]/g, '\\.');
    assert.match(
      missLine(report, '[1/2] FROM'),
      new RegExp(`the image ${host}/test/base:latest changed: sha256:[0-9a-f]{12} -> sha256:[0-9a-f]{12}$`),
    );
    assert.match(missLine(report, '[2/2] RUN cat /base > /copy'), /its parent changed: \[1\/2\] FROM /);
  });

  it('explains an older build by ref, and fails clearly for an unknown ref or format', async () => {
    const list = (await (await fetch(`${env.url}/api/builds`)).json()) as Array<{ ref: string }>;
    const oldest = list.at(-1)!.ref;
    const json = await explainJson([oldest]);
    assert.equal(json.ref, oldest);
    assert.equal(json.previous, undefined);

    const unknown = await runKilnctl(env.daemon.address, ['explain', 'nosuchbuild']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /NotFound: no finished build nosuchbuild in the history/);
    const format = await runKilnctl(env.daemon.address, ['explain', '--format', 'yaml']);
    assert.equal(format.code, 1);
    assert.match(format.stderr, /unknown format "yaml"/);
  });
});
