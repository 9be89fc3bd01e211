import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { BuildView } from '../../daemon/insight-web/index.js';
import { latestRef, startInsightEnvironment, type InsightEnvironment } from './harness.js';

const chromiumPath = '/usr/bin/chromium';
/** The committed copy of the screenshot (docs/), from dist-NAME/test/insight/. */
const docsScreenshot = new URL('../../../docs/insight-screenshot.png', import.meta.url).pathname;

// Hostile on purpose: markup in a step name must show as text and never run.
const hostile = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;

/** What the tests read inside the page (the project's types have no DOM). */
interface PageGlobals {
  location: { hash: string };
  document: { querySelectorAll(selector: string): { length: number } };
  __marker?: number;
  __pwned?: number;
}

async function view(env: InsightEnvironment, ref: string): Promise<BuildView> {
  return (await (await fetch(`${env.url}/api/builds/${ref}`)).json()) as BuildView;
}

/** data-digest → data-state of the graph's nodes (or the timeline's rows). */
function states(page: Page, selector: string): Promise<Record<string, string>> {
  return page.$$eval(selector, (nodes) =>
    Object.fromEntries(
      nodes.map((n) => [
        (n as unknown as { dataset: Record<string, string> }).dataset['digest'],
        (n as unknown as { dataset: Record<string, string> }).dataset['state'],
      ]),
    ),
  );
}

describe(
  'build view in a real browser (headless Chromium)',
  { skip: existsSync(chromiumPath) ? false : `no ${chromiumPath}` },
  () => {
    let env: InsightEnvironment;
    let context: BrowserContext;
    let page: Page;
    let profile: string;
    let project: string;
    const problems: string[] = [];
    const requests: string[] = [];

    before(async () => {
      env = await startInsightEnvironment();
      profile = await mkdtemp(join(tmpdir(), 'kiln-chromium-'));
      project = await env.writeFiles('project', {
        Dockerfile: [
          `FROM ${env.busybox} AS base`,
          'RUN echo preparing the base; sleep 1',
          'FROM base AS deps',
          'COPY deps.txt /deps.txt',
          'RUN sort /deps.txt > /deps.sorted; echo sorted deps',
          'FROM base AS build',
          'COPY src /src',
          'RUN cat /src/* > /app.txt; echo built app; sleep 1',
          `FROM ${env.busybox}`,
          'COPY --from=deps /deps.sorted /deps.sorted',
          'COPY --from=build /app.txt /app.txt',
          'RUN wc -c /app.txt /deps.sorted',
          '',
        ].join('\n'),
        'deps.txt': 'zlib\nacl\n',
        'src/main.txt': 'main\n',
        'src/util.txt': 'util\n',
      });
      context = await chromium.launchPersistentContext(profile, {
        executablePath: chromiumPath,
        headless: true,
        viewport: { width: 1440, height: 1000 },
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      page = context.pages()[0] ?? (await context.newPage());
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('request', (r) => requests.push(r.url()));
    });

    after(async () => {
      await context?.close();
      await env?.stop();
      if (profile) await rm(profile, { recursive: true, force: true });
    });

    it('draws every step of a multi-stage build in the graph and the timeline with its state', async () => {
      assert.equal((await env.dockerBuild(project)).code, 0);
      await writeFile(join(project, 'src', 'util.txt'), 'util changed\n');
      assert.equal((await env.dockerBuild(project)).code, 0);
      const ref = await latestRef(env);
      const expected = await view(env, ref);
      assert.ok(
        expected.steps.some((s) => s.state === 'cached') && expected.steps.some((s) => s.state === 'done'),
      );

      await page.goto(`${env.url}/`);
      // With no build chosen, the page opens the newest.
      await page.waitForFunction(
        (r) => (globalThis as unknown as PageGlobals).location.hash === `#/builds/${r}`,
        ref,
      );
      await page.waitForSelector('svg.graph g.node');
      const want = Object.fromEntries(expected.steps.map((s) => [s.digest, s.state]));
      assert.deepEqual(await states(page, 'svg.graph g.node'), want);
      assert.deepEqual(await states(page, 'svg.timeline g.row'), want);
      // The one-second RUN set the build's length, not the cached branch settled after it.
      const slowRun = expected.steps.find((s) => s.name.startsWith('[build 2/2] RUN cat'))!;
      assert.ok(expected.criticalPath.includes(slowRun.digest), 'the slow RUN is on the critical path');
      // A step a cache hit made unnecessary is labelled so, not left "waiting".
      for (const step of expected.steps.filter((s) => s.state === 'waiting')) {
        assert.equal(
          await page.textContent(`svg.graph g.node[data-digest="${step.digest}"] text.meta`),
          'not needed',
        );
      }
      // Edges: one path per input.
      const edges = expected.steps.reduce((n, s) => n + s.inputs.length, 0);
      assert.equal(await page.locator('svg.graph path.edge').count(), edges);
      // Every started step has a bar; cached ones are thin but there.
      assert.equal(
        await page.locator('svg.timeline g.row rect.bar').count(),
        expected.steps.filter((s) => s.started).length,
      );
      // The critical path is highlighted in both, and its edges are.
      const critical = [...expected.criticalPath].sort();
      const marked = (sel: string) =>
        page.$$eval(sel, (ns) =>
          ns.map((n) => (n as unknown as { dataset: Record<string, string> }).dataset['digest']!).sort(),
        );
      assert.deepEqual(await marked('svg.graph g.node.critical'), critical);
      assert.deepEqual(await marked('svg.timeline g.row.critical'), critical);
      assert.equal(
        await page.locator('svg.graph path.edge.critical').count(),
        expected.criticalPath.length - 1,
      );
      // The graph is laid out by depth: every input sits in a row above its step.
      const ys = await page.$$eval('svg.graph g.node', (ns) =>
        Object.fromEntries(
          ns.map((n) => [
            (n as unknown as { dataset: Record<string, string> }).dataset['digest'],
            Number(/translate\([\d.]+,([\d.]+)/.exec(n.getAttribute('transform')!)![1]),
          ]),
        ),
      );
      for (const s of expected.steps)
        for (const i of s.inputs) assert.ok(ys[i]! < ys[s.digest]!, `${s.name} below its inputs`);
    });

    it('shows why a step ran and its logs when clicked, and lists the misses', async () => {
      const ref = await latestRef(env);
      const expected = await view(env, ref);
      const copy = expected.steps.find((s) => s.name === '[build 1/2] COPY src /src')!;
      await page.click(`svg.graph g.node[data-digest="${copy.digest}"]`);
      await page.waitForSelector(`section.details[data-digest="${copy.digest}"]`);
      assert.equal(
        await page.textContent('section.details .reason'),
        'Ran because files changed in [internal] load build context: changed src/util.txt.',
      );
      assert.deepEqual(
        await page.$$eval('section.details ul.files li', (ls) => ls.map((l) => l.textContent)),
        ['changedsrc/util.txt'],
      );
      const misses = await page.$$eval('section.misses li', (ls) => ls.map((l) => l.textContent));
      assert.ok(
        misses.includes(
          '[build 2/2] RUN cat /src/* > /app.txt; echo built app; sleep 1: its parent changed: [build 1/2] COPY src /src',
        ),
        misses.join('\n'),
      );
      // A cached step says so; the RUN step's logs show in the timeline's selection too.
      const run = expected.steps.find((s) => s.name.startsWith('[build 2/2] RUN'))!;
      await page.click(`svg.timeline g.row[data-digest="${run.digest}"]`);
      await page.waitForSelector(`section.details[data-digest="${run.digest}"]`);
      assert.equal(await page.textContent('section.details pre.logs'), 'built app\n');
      assert.ok(await page.locator(`svg.graph g.node.selected[data-digest="${run.digest}"]`).count());
      const cached = expected.steps.find((s) => s.state === 'cached' && s.name.includes('RUN sort'))!;
      await page.click(`svg.graph g.node[data-digest="${cached.digest}"]`);
      await page.waitForSelector(`section.details[data-digest="${cached.digest}"]`);
      assert.equal(await page.textContent('section.details .reason'), 'Came from the cache.');

      // The picture for the docs: the graph, the timeline and the COPY step's explanation.
      await page.click(`svg.graph g.node[data-digest="${copy.digest}"]`);
      await page.waitForSelector(`section.details[data-digest="${copy.digest}"]`);
      // Kept outside the test's scratch directory so CI can show it; the docs copy changes only
      // on request (KILN_UPDATE_SCREENSHOT=1), so a test run leaves the checkout clean.
      const shot = join(tmpdir(), 'kiln-insight-screenshot.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok((await stat(shot)).size > 20_000);
      process.stdout.write(`# build view screenshot: ${shot}\n`);
      if (process.env.KILN_UPDATE_SCREENSHOT) await copyFile(shot, docsScreenshot);
    });

    it('updates live while a build runs, without reloading', async () => {
      const slow = await env.writeFiles('slow', {
        Dockerfile: `FROM ${env.busybox}\nRUN echo slow ${Date.now()}; sleep 3\nRUN echo after\n`,
      });
      const marker = await page.evaluate(
        () => ((globalThis as unknown as PageGlobals).__marker = Math.random()),
      );
      const build = env.dockerBuild(slow);
      // The new build appears in the list as running; open it.
      const link = page.locator('nav a[data-state="running"]');
      await link.waitFor({ timeout: 20_000 });
      await link.click();
      await page.waitForSelector('svg.graph g.node[data-state="running"]', { timeout: 20_000 });
      await page.waitForSelector('svg.timeline g.row.running rect.bar');
      assert.equal((await build).code, 0);
      await page.waitForSelector('nav li.current a[data-state="completed"]', { timeout: 20_000 });
      const ref = await latestRef(env);
      const expected = await view(env, ref);
      const want = Object.fromEntries(expected.steps.map((s) => [s.digest, s.state]));
      // The last update may still be on its way.
      for (let i = 0; i < 100 && !isDeepStrictEqual(await states(page, 'svg.graph g.node'), want); i++) {
        await sleep(100);
      }
      assert.deepEqual(
        await states(page, 'svg.graph g.node'),
        Object.fromEntries(expected.steps.map((s) => [s.digest, s.state])),
      );
      assert.equal(
        await page.evaluate(() => (globalThis as unknown as PageGlobals).__marker),
        marker,
        'same page, never reloaded',
      );
    });

    it('shows hostile step names and logs as text, never as markup', async () => {
      const evil = await env.writeFiles('evil', {
        Dockerfile: `FROM ${env.busybox}\nRUN echo '${hostile}' ${Date.now()}\n`,
      });
      assert.equal((await env.dockerBuild(evil)).code, 0);
      const ref = await latestRef(env);
      const expected = await view(env, ref);
      const step = expected.steps.find((s) => s.name.includes('<img'))!;
      await page.goto(`${env.url}/#/builds/${ref}/${encodeURIComponent(step.digest)}`);
      await page.waitForSelector(`section.details[data-digest="${step.digest}"]`);
      assert.equal(await page.textContent('section.details .step-name'), step.name);
      assert.match(
        (await page.textContent('section.details pre.logs'))!,
        /^<img src=x onerror="window.__pwned=1"><script>/,
      );
      assert.equal(await page.locator('#build img, #build script, nav img').count(), 0);
      assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).__pwned), undefined);
      assert.equal(await page.textContent(`svg.graph g.node[data-digest="${step.digest}"] title`), step.name);
    });

    it('loaded nothing from anywhere but kilnd and logged no errors', () => {
      const origin = new URL(env.url).origin;
      assert.ok(requests.length > 0);
      assert.deepEqual(
        requests.filter((u) => !u.startsWith(`${origin}/`)),
        [],
      );
      assert.deepEqual(problems, []);
    });
  },
);
