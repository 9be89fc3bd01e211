import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runKilnctl } from '../../client/testing/run-kilnctl.js';
import type { BuildSummary, BuildView } from '../../daemon/insight-web/index.js';
import { latestRef, rawGet, startInsightEnvironment, type InsightEnvironment } from './harness.js';

async function view(env: InsightEnvironment, ref: string): Promise<BuildView> {
  const res = await fetch(`${env.url}/api/builds/${ref}`);
  assert.equal(res.status, 200);
  return (await res.json()) as BuildView;
}

/** Reads server-sent events until `until` returns true for one (or the timeout passes). */
async function readEvents(
  url: string,
  until: (event: { event: string; data: string }) => boolean,
  started: () => void,
  timeoutMs = 60_000,
): Promise<Array<{ event: string; data: string }>> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const seen: Array<{ event: string; data: string }> = [];
  try {
    const res = await fetch(url, { signal: abort.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const decoder = new TextDecoder();
    let buffer = '';
    let first = true;
    for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      if (first) {
        first = false;
        started();
      }
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!event || data === undefined) continue;
        seen.push({ event, data });
        if (until({ event, data })) return seen;
      }
    }
    return seen;
  } catch (err) {
    if (abort.signal.aborted) return seen;
    throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

describe('build view API on the debug address', () => {
  let env: InsightEnvironment;
  let project: string;

  before(async () => {
    env = await startInsightEnvironment();
    project = await env.writeFiles('project', {
      Dockerfile: [
        `FROM ${env.busybox} AS base`,
        'RUN echo built base',
        'FROM base AS build',
        'COPY src /app',
        // About 200 KiB of output, then a last line: only the end of it is kept.
        'RUN i=0; while [ $i -lt 4000 ]; do echo "line $i of a long log ................................"; i=$((i+1)); done; echo LAST-LINE',
        `FROM ${env.busybox}`,
        'COPY --from=build /app /app',
        'RUN ls /app',
        '',
      ].join('\n'),
      'src/a.txt': 'a\n',
    });
    const r = await env.dockerBuild(project);
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    await env?.stop();
  });

  it('serves the page and its files from kilnd only, with a strict content security policy', async () => {
    const page = await fetch(`${env.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const html = await page.text();
    for (const asset of html.match(/\/assets\/[\w.-]+/g)!) {
      const res = await fetch(`${env.url}${asset}`);
      assert.equal(res.status, 200, asset);
    }
    assert.ok(!/https?:\/\//.test(html), 'no external URL in the page');
    const script = await fetch(`${env.url}/assets/app.js`);
    assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.ok(!/innerHTML|insertAdjacentHTML|document\.write/.test(await script.text()));
    assert.equal((await fetch(`${env.url}/assets/nosuch.js`)).status, 404);
    assert.equal((await rawGet(`${env.url}/assets/..%2f..%2fpackage.json`)).status, 404);
    assert.equal((await rawGet(`${env.url}/api/nosuch`)).status, 404);
    assert.equal((await rawGet(`${env.url}/metrics`)).status, 200, 'the debug routes still answer');
  });

  it('refuses other host names (DNS rebinding) and methods other than GET', async () => {
    const evil = await rawGet(`${env.url}/api/builds`, { host: 'attacker.example:80' });
    assert.equal(evil.status, 403);
    const local = await rawGet(`${env.url}/api/builds`, { host: `localhost:${new URL(env.url).port}` });
    assert.equal(local.status, 200);
    const post = await rawGet(`${env.url}/api/builds`, { method: 'POST' });
    assert.equal(post.status, 405);
    const bad = await rawGet(`${env.url}/api/builds/not%20a%20ref`);
    assert.equal(bad.status, 400);
    const unknown = await rawGet(`${env.url}/api/builds/nosuchbuild`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /no build nosuchbuild in the history/);
  });

  it('lists builds and gives every step with its state, edges, times and the critical path', async () => {
    const list = (await (await fetch(`${env.url}/api/builds`)).json()) as BuildSummary[];
    assert.equal(list.length, 1);
    assert.equal(list[0]!.state, 'completed');
    const v = await view(env, list[0]!.ref);
    const names = v.steps.map((s) => s.name);
    for (const name of [
      '[base 2/2] RUN echo built base',
      '[build 1/2] COPY src /app',
      '[stage-2 2/3] COPY --from=build /app /app',
      '[stage-2 3/3] RUN ls /app',
    ]) {
      assert.ok(names.includes(name), `${name} in ${names.join(' | ')}`);
    }
    // The progress also showed the metadata lookup, which the scheduler never ran.
    assert.ok(names.some((n) => n.startsWith('[internal] load metadata for')));
    const byName = new Map(v.steps.map((s) => [s.name, s]));
    const copy = byName.get('[build 1/2] COPY src /app')!;
    assert.equal(copy.state, 'done');
    assert.deepEqual(copy.inputs.map((d) => v.steps.find((s) => s.digest === d)!.name).sort(), [
      '[base 2/2] RUN echo built base',
      '[internal] load build context',
    ]);
    for (const s of v.steps) {
      assert.ok(s.started && s.completed && s.completed >= s.started, `${s.name} has times`);
      assert.ok(s.started >= v.start && s.completed <= v.end, `${s.name} within the axis`);
    }
    assert.equal(v.criticalPath.at(-1), byName.get('[stage-2 3/3] RUN ls /app')!.digest);
    assert.deepEqual(
      v.steps
        .filter((s) => s.critical)
        .map((s) => s.digest)
        .sort(),
      [...v.criticalPath].sort(),
    );
    assert.equal(copy.summary, 'no earlier build of this target to compare with');
  });

  it('keeps the last 64 KiB of each step log, from a line start, and says how much went', async () => {
    const v = await view(env, await latestRef(env));
    const noisy = v.steps.find((s) => s.name.startsWith('[build 2/2] RUN'))!;
    assert.ok(noisy.logs, 'logs kept');
    assert.ok(Buffer.byteLength(noisy.logs) <= 64 * 1024, `${Buffer.byteLength(noisy.logs)} bytes`);
    assert.ok(Buffer.byteLength(noisy.logs) > 60 * 1024);
    assert.ok(noisy.logsDropped! > 100 * 1024, `${noisy.logsDropped} bytes dropped`);
    assert.match(noisy.logs, /^line \d+ of a long log/);
    assert.match(noisy.logs, /LAST-LINE\n$/);
    const base = v.steps.find((s) => s.name === '[base 2/2] RUN echo built base')!;
    assert.equal(base.logs, 'built base\n');
    assert.equal(base.logsDropped, 0);
  });

  it('streams events while a build runs, and shows it running before it is done', async () => {
    const slow = await env.writeFiles('slow', {
      Dockerfile: `FROM ${env.busybox}\nRUN echo start; sleep 2; echo ${Date.now()}\n`,
    });
    let build: Promise<unknown> | undefined;
    let runningSeen: BuildView | undefined;
    const events = await readEvents(
      `${env.url}/api/events`,
      (e) => {
        const change = JSON.parse(e.data) as { ref: string; type?: string };
        if (e.event === 'build' && !runningSeen) {
          // Look while it runs (the sleep leaves two seconds).
          void view(env, change.ref).then((v) => {
            if (v.state === 'running' && v.steps.some((s) => s.state === 'running')) runningSeen = v;
          });
        }
        return e.event === 'builds' && change.type === 'complete';
      },
      () => {
        build = env.dockerBuild(slow);
      },
    );
    assert.equal(((await build) as { code: number }).code, 0);
    const kinds = events.map((e) => `${e.event}:${(JSON.parse(e.data) as { type?: string }).type ?? ''}`);
    assert.equal(kinds[0], 'builds:started');
    assert.ok(kinds.includes('build:'), kinds.join(' '));
    assert.equal(kinds.at(-1), 'builds:complete');
    assert.ok(runningSeen, 'saw the build running');
    const ref = runningSeen.ref;
    const done = await view(env, ref);
    assert.equal(done.state, 'completed');
    const run = done.steps.find((s) => s.name.includes('sleep 2'))!;
    assert.equal(run.state, 'done');
    assert.match(run.logs!, /^start\n\d+\n$/);
  });

  it('keeps steps and logs across a daemon restart, and forgets a deleted build', async () => {
    const ref = (await (await fetch(`${env.url}/api/builds`)).json()) as BuildSummary[];
    const first = ref.at(-1)!.ref;
    const before = await view(env, first);
    await env.restart();
    const after = await view(env, first);
    assert.deepEqual(
      after.steps.map((s) => [s.name, s.state, s.logs ?? '']),
      before.steps.map((s) => [s.name, s.state, s.logs ?? '']),
    );
    const r = await runKilnctl(env.daemon.address, ['debug', 'ctl', first, '--delete']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await rawGet(`${env.url}/api/builds/${first}`)).status, 404);
  });
});
