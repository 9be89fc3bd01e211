// Load on a real kilnd: concurrent builds sharing steps, a long run of sequential builds watched
// for leaks, and a client killed in the middle of a step. Figures for docs/reliability.md ("Load").
// KILN_RELIABILITY_FULL=1 runs 500 sequential builds instead of 25.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { toBinary } from '@bufbuild/protobuf';
import { Client } from '../../client/index.js';
import { copy, image, marshal, scratch, type RunMount, type State } from '../../llb/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import {
  daemonUsage,
  descendantsOf,
  median,
  mountsUnder,
  runcContainers,
  type DaemonUsage,
} from './load-probe.js';

const full = process.env.KILN_RELIABILITY_FULL === '1';
const sequentialBuilds = full ? 500 : 25;
const warmUpBuilds = 5;
const amd64 = { os: 'linux', architecture: 'amd64' };
const MiB = 1024 * 1024;

/** Waits until `check` passes or `ms` elapse; returns its last answer. */
async function eventually<T>(ms: number, probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await sleep(200);
    value = await probe();
  }
  return value;
}

describe('load on a real kilnd', () => {
  let registry: TestRegistry;
  let daemon: KilndProcess;
  let client: Client;
  let work: string;
  let busybox: State;

  before(async () => {
    registry = await startRegistry({ auth: 'none' });
    busybox = image((await pushBusyboxIndex(registry)).ref, { platform: amd64 });
    daemon = await startKilnd();
    client = new Client({ address: daemon.address });
    work = await mkdtemp(join(tmpdir(), 'kiln-load-'));
  });

  after(async () => {
    client?.close();
    await daemon?.dispose();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Builds `state` and returns the directory its files were exported to. */
  const buildTo = async (name: string, state: State): Promise<string> => {
    const dest = join(work, name);
    await client.build({
      definition: marshal(state, { platform: amd64 }),
      outputs: [{ type: 'local', dest }],
      auth: false,
    });
    return dest;
  };

  it('runs 20 concurrent builds to the end, each step shared between builds once', async () => {
    const marker = `${Date.now()}`;
    // Every step appends its name to a file in one cache mount: the file counts the step's runs.
    const counter: RunMount = { type: 'cache', dest: '/count', id: `count-${marker}` };
    const step = (name: string, seconds: number) =>
      busybox.run({ shell: `sleep ${seconds}; echo ${name} >> /count/${name}`, mounts: [counter] }).root();
    const sharedA = step(`a-${marker}`, 1);
    const sharedB = step(`b-${marker}`, 1);
    const builds = Array.from({ length: 20 }, (_, i) => {
      const first = i < 10 ? sharedA : i < 15 ? sharedB : step(`own-${i}-${marker}`, 1);
      const own = first.run({ shell: `echo ${i} > /i` }).root();
      // One Client (one HTTP/2 connection) for all twenty, as a tool embedding kiln would have.
      return buildTo(`concurrent-${i}`, scratch().file(copy(own, '/i', '/i')));
    });
    const outputs = await Promise.all(builds);
    for (const [i, dir] of outputs.entries()) assert.equal(await readFile(join(dir, 'i'), 'utf8'), `${i}\n`);

    const read = busybox
      .run({ shell: 'mkdir /out; cp /count/* /out/', mounts: [counter], ignoreCache: true })
      .root();
    const counts = join(
      await buildTo('counts', scratch().file(copy(read, '/out', '/', { copyDirContentsOnly: true }))),
    );
    const runs = async (name: string): Promise<number> =>
      (await readFile(join(counts, name), 'utf8')).split('\n').filter(Boolean).length;
    assert.equal(await runs(`a-${marker}`), 1, 'the step shared by ten builds ran more than once');
    assert.equal(await runs(`b-${marker}`), 1, 'the step shared by five builds ran more than once');
    for (let i = 15; i < 20; i++) assert.equal(await runs(`own-${i}-${marker}`), 1);
    console.log(
      '# 20 concurrent builds: all succeeded; shared steps ran 1 time each (10 and 5 builds sharing)',
    );
  });

  it(`holds no more memory, descriptors, mounts or processes after ${sequentialBuilds} sequential builds`, async () => {
    const context = join(work, 'sequential-context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'input.txt'), 'input');
    await writeFile(
      join(context, 'Dockerfile'),
      `FROM ${registry.host}/library/busybox:latest\nARG N\nCOPY input.txt /\nRUN echo "$N" > /n && cat /input.txt >> /n\n`,
    );
    const pid = daemon.child.pid!;
    // A Dockerfile through the frontend, a context through FileSync, a RUN step in runc (a new
    // build arg each time, so it runs) and files back to the client: every part a build holds.
    const once = async (n: number): Promise<void> => {
      const dest = join(work, 'sequential-out');
      await client.build({
        frontend: 'dockerfile.v0',
        frontendOpts: { 'build-arg:N': `${n}` },
        locals: { context, dockerfile: context },
        outputs: [{ type: 'local', dest }],
        auth: false,
      });
      assert.equal(await readFile(join(dest, 'n'), 'utf8'), `${n}\ninput`);
      await rm(dest, { recursive: true, force: true });
    };
    for (let n = 0; n < warmUpBuilds; n++) await once(n);
    const samples: DaemonUsage[] = [await daemonUsage(pid, daemon.root)];
    for (let n = warmUpBuilds; n < warmUpBuilds + sequentialBuilds; n++) {
      await once(n);
      samples.push(await daemonUsage(pid, daemon.root));
    }
    const window = Math.max(5, Math.floor(samples.length / 8));
    const early = samples.slice(0, window);
    const late = samples.slice(-window);
    const of = (list: DaemonUsage[], key: keyof DaemonUsage): number => median(list.map((s) => s[key]));
    const growth = {
      rssMiB: (of(late, 'rssBytes') - of(early, 'rssBytes')) / MiB,
      openFds: of(late, 'openFds') - of(early, 'openFds'),
      mounts: samples.at(-1)!.mounts - samples[0]!.mounts,
      descendants: samples.at(-1)!.descendants,
      containers: samples.at(-1)!.containers,
    };
    console.log(
      `# ${sequentialBuilds} sequential builds after ${warmUpBuilds} warm-up: RSS ${(of(early, 'rssBytes') / MiB).toFixed(0)} → ` +
        `${(of(late, 'rssBytes') / MiB).toFixed(0)} MiB (median of ${window}), open fds ${of(early, 'openFds')} → ` +
        `${of(late, 'openFds')}, mounts under root ${samples[0]!.mounts} → ${samples.at(-1)!.mounts}, ` +
        `descendant processes ${growth.descendants}, runc containers ${growth.containers}`,
    );
    // Bounds: a leak of one descriptor or mount per build shows at once; memory gets room for the
    // garbage collector's rhythm (a 100 KiB-per-build leak shows in the 500-build run).
    assert.ok(growth.rssMiB <= 32, `RSS grew by ${growth.rssMiB.toFixed(1)} MiB`);
    assert.ok(growth.openFds <= 4, `open descriptors grew by ${growth.openFds}`);
    assert.equal(growth.mounts, 0);
    assert.equal(growth.descendants, 0);
    assert.equal(growth.containers, 0);
  });

  it('releases a build whose client is killed during a long step, and builds it again', async () => {
    const marker = `disconnect-${Date.now()}`;
    const state = busybox
      .run({ shell: `echo started ${marker}; sleep 6; echo finished ${marker} > /done` })
      .root();
    const definition = Buffer.from(toBinary(DefinitionSchema, marshal(state, { platform: amd64 })));
    const mountsBefore = (await mountsUnder(daemon.root)).length;
    const buildctl = spawn(buildctlPath()!, ['--addr', daemon.address, 'build', '--progress', 'plain'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let progress = '';
    buildctl.stderr.on('data', (c: Buffer) => (progress += c.toString()));
    buildctl.stdin.end(definition);
    const closed = new Promise((resolve) => buildctl.once('close', resolve));
    await eventually(
      30_000,
      async () => progress,
      (p) => p.includes(`started ${marker}`),
    );
    assert.match(progress, new RegExp(`started ${marker}`), `the step never started:\n${progress}`);
    assert.ok((await descendantsOf(daemon.child.pid!)).length > 0, 'the step is not running');
    buildctl.kill('SIGKILL');
    await closed;

    const pid = daemon.child.pid!;
    const held = async () => ({
      containers: (await runcContainers(daemon.root)).length,
      mounts: (await mountsUnder(daemon.root)).length - mountsBefore,
      descendants: (await descendantsOf(pid)).length,
    });
    const started = Date.now();
    const left = await eventually(15_000, held, (h) => h.containers + h.mounts + h.descendants === 0);
    assert.deepEqual(left, { containers: 0, mounts: 0, descendants: 0 });
    console.log(
      `# client killed mid-step: container, mounts and processes released ${Date.now() - started} ms later`,
    );

    const again = await buildTo('after-disconnect', scratch().file(copy(state, '/done', '/done')));
    assert.equal(await readFile(join(again, 'done'), 'utf8'), `finished ${marker}\n`);
    assert.deepEqual(await held(), { containers: 0, mounts: 0, descendants: 0 });
  });
});
