import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '../../client/index.js';
import { rendezvousOrder, routeRequest } from '../../client/routing/index.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { check, kilnctl, kilnctlMain } from './processes.js';
import { spawn } from 'node:child_process';

const skip = process.getuid?.() === 0 ? false : 'kilnd needs root';

/** Names and `[worker.oci] platforms` of the three nodes: kilnd-1 is the "arm64 machine". */
const nodeSpecs = [
  { name: 'kilnd-0', platforms: ['linux/amd64', 'linux/arm64'] },
  { name: 'kilnd-1', platforms: ['linux/arm64', 'linux/amd64'] },
  { name: 'kilnd-2', platforms: undefined },
] as const;

/** `#N NAME` → whether that step was CACHED, from plain progress output. */
function stepStates(stderr: string): Map<string, boolean> {
  const names = new Map<string, string>();
  const cached = new Set<string>();
  for (const line of stderr.split('\n')) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m || /^\d+\.\d+ /.test(m[2]!)) continue;
    if (!names.has(m[1]!)) names.set(m[1]!, m[2]!);
    if (m[2] === 'CACHED') cached.add(m[1]!);
  }
  return new Map([...names].map(([id, name]) => [name, cached.has(id)]));
}

/**
 * Issue 12, part 7: one builder of three kilnd processes on this machine. Builds go to the node
 * that runs their platform natively, otherwise by rendezvous hashing on their context; a registry
 * cache exported by one node gives hits on another; a draining node gets no new builds.
 */
describe('kilnctl routing over three kilnd nodes', { skip, timeout: 15 * 60_000 }, () => {
  let work: string;
  let registry: TestRegistry;
  let base: string;
  const nodes: KilndProcess[] = [];
  let builderFile: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-multinode-'));
    registry = await startRegistry({ auth: 'none' });
    base = (await pushBusyboxIndex(registry)).ref;
    for (const spec of nodeSpecs) {
      const config = join(work, `${spec.name}.toml`);
      await writeFile(
        config,
        spec.platforms
          ? `[worker.oci]\nplatforms = ${JSON.stringify(spec.platforms)}\n`
          : '# detected platforms\n',
      );
      nodes.push(await startKilnd({ args: ['--config', config] }));
    }
    builderFile = join(work, 'builder.toml');
    await writeFile(
      builderFile,
      nodeSpecs.map((s, i) => `[[node]]\nname = "${s.name}"\naddress = "${nodes[i]!.address}"\n`).join('\n'),
    );
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.dispose()));
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  let contexts = 0;
  /** A fresh build context with a Dockerfile that records the machine it ran on. */
  async function context(dockerfile?: string): Promise<string> {
    const dir = join(work, `project-${contexts++}`);
    await mkdir(dir);
    await writeFile(
      join(dir, 'Dockerfile'),
      dockerfile ?? `FROM ${base}\nCOPY app.txt /app.txt\nRUN uname -m > /arch && cat /app.txt > /copy\n`,
    );
    await writeFile(join(dir, 'app.txt'), `project ${dir}\n`);
    return dir;
  }

  /** Builds `dir` through the builder; resolves with kilnctl's output and the node that ran it. */
  async function build(dir: string, extra: readonly string[] = [], globals = ['--builder', builderFile]) {
    const refFile = join(work, `ref-${Math.random().toString(36).slice(2)}`);
    const out = join(work, `out-${Math.random().toString(36).slice(2)}`);
    const r = check(
      await kilnctl([
        '--debug',
        ...globals,
        'build',
        '--progress',
        'plain',
        '--frontend',
        'dockerfile.v0',
        '--local',
        `context=${dir}`,
        '--local',
        `dockerfile=${dir}`,
        '--output',
        `type=local,dest=${out}`,
        '--ref-file',
        refFile,
        ...extra,
      ]),
      `build of ${dir}`,
    );
    const ref = (await readFile(refFile, 'utf8')).trim();
    return { ...r, out, node: await nodeOfRef(ref) };
  }

  /** The node whose build history holds `ref` (asked of every node, not taken from kilnctl). */
  async function nodeOfRef(ref: string): Promise<string> {
    const found: string[] = [];
    for (const [i, n] of nodes.entries()) {
      if (n.child.exitCode !== null) continue;
      const client = new Client({ address: n.address });
      try {
        for await (const event of client.history({ ref, earlyExit: true })) {
          if (event.record?.Ref === ref) found.push(nodeSpecs[i]!.name);
        }
      } finally {
        client.close();
      }
    }
    assert.equal(found.length, 1, `build ${ref} is in the history of ${JSON.stringify(found)}`);
    return found[0]!;
  }

  /** The nodes native for linux/amd64, the builder's default platform (kilnd-0's, listed first). */
  const amd64Nodes = ['kilnd-0', 'kilnd-2'];
  const expected = (dir: string, among: readonly string[] = amd64Nodes) =>
    rendezvousOrder(
      among,
      routeRequest({ frontendOpts: {}, locals: { context: dir, dockerfile: dir }, cwd: '/' }).affinity,
    )[0]!;

  it('sends a linux/arm64 build to the node that runs arm64 natively', async () => {
    for (let i = 0; i < 2; i++) {
      const dir = await context();
      const r = await build(dir, ['--opt', 'platform=linux/arm64']);
      assert.equal(r.node, 'kilnd-1');
      assert.equal((await readFile(join(r.out, 'arch'), 'utf8')).trim(), 'aarch64');
      assert.match(r.stderr, /builder: node "kilnd-1" \(unix:.*\) chosen: runs linux\/arm64 natively/);
    }
  });

  it('sends a linux/amd64 build to one of the amd64 nodes, by hashing among them', async () => {
    const dir = await context();
    const r = await build(dir, ['--opt', 'platform=linux/amd64']);
    assert.equal(r.node, expected(dir));
    assert.equal((await readFile(join(r.out, 'arch'), 'utf8')).trim(), 'x86_64');
  });

  it('keeps a project on one node (its second build cached) and spreads projects over the default-platform nodes', async () => {
    const byNode = new Map<string, string[]>();
    for (let i = 0; i < 4 || (byNode.size < amd64Nodes.length && i < 40); i++) {
      const dir = await context();
      byNode.set(expected(dir), [...(byNode.get(expected(dir)) ?? []), dir]);
    }
    assert.equal(byNode.size, amd64Nodes.length);
    for (const [node, dir] of [...byNode].flatMap(([n, dirs]) => dirs.map((d) => [n, d] as const))) {
      const first = await build(dir);
      assert.equal(first.node, node, `first build of ${dir}`);
      assert.equal((await readFile(join(first.out, 'arch'), 'utf8')).trim(), 'x86_64');
      assert.match(
        first.stderr,
        /chosen: native for linux\/amd64 \(the builder's default platform\); hashing on the build's context/,
      );
      const second = await build(dir);
      assert.equal(second.node, node, `second build of ${dir}`);
      const states = stepStates(second.stderr);
      const run = [...states].find(([name]) => name.includes('RUN uname -m'));
      assert.ok(run, second.stderr);
      assert.equal(run[1], true, `the RUN step of the second build was not CACHED:\n${second.stderr}`);
    }
  });

  it('routes repeated --addr flags the same way, named by address', async () => {
    const dir = await context();
    const addressOf = (name: string): string => nodes[nodeSpecs.findIndex((s) => s.name === name)]!.address;
    const r = await build(
      dir,
      [],
      nodes.flatMap((n) => ['--addr', n.address]),
    );
    // Nodes without a name hash by address, among those native for the default platform.
    assert.equal(addressOf(r.node), expected(dir, amd64Nodes.map(addressOf)));
  });

  it('kiln.affinity pins different checkouts of one project to one node', async () => {
    const a = await build(await context(), ['--opt', 'kiln.affinity=shop']);
    const b = await build(await context(), ['--opt', 'kiln.affinity=shop']);
    assert.equal(a.node, b.node);
    assert.equal(
      a.node,
      rendezvousOrder(
        nodeSpecs.map((s) => s.name),
        'shop',
      )[0],
    );
  });

  it('skips a draining node; its project moves and gets cache hits from the registry cache it exported', async () => {
    const dir = await context(
      `FROM ${base}\nCOPY app.txt /app.txt\nRUN echo one > /one && sleep 1\nRUN cat /app.txt /one > /two\n`,
    );
    const cacheRef = `${registry.host}/cache/project:buildcache`;
    const first = await build(dir, ['--export-cache', `type=registry,ref=${cacheRef},mode=max`]);
    const owner = first.node;
    assert.equal(owner, expected(dir));
    const ownerIndex = nodeSpecs.findIndex((s) => s.name === owner);

    // A long build keeps the owner busy while it drains after SIGTERM.
    const slow = await context(`FROM ${base}\nRUN sleep 12 && echo slow > /slow\n`);
    const long = spawn(
      process.execPath,
      [
        kilnctlMain,
        '--addr',
        nodes[ownerIndex]!.address,
        'build',
        '--progress',
        'plain',
        '--frontend',
        'dockerfile.v0',
        '--local',
        `context=${slow}`,
        '--local',
        `dockerfile=${slow}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let longLog = '';
    long.stderr.on('data', (c: Buffer) => (longLog += c.toString()));
    const longDone = new Promise<number | null>((resolve) => long.on('close', resolve));
    for (let i = 0; i < 300 && !/RUN sleep 12/.test(longLog); i++) await sleep(100);
    assert.match(longLog, /RUN sleep 12/);
    await sleep(500);
    const exited = nodes[ownerIndex]!.stop('SIGTERM');

    const moved = await build(dir, ['--import-cache', `type=registry,ref=${cacheRef}`]);
    const others = amd64Nodes.filter((n) => n !== owner);
    assert.equal(moved.node, expected(dir, others), 'the next node in the project’s rendezvous order');
    assert.match(moved.stderr, new RegExp(`${owner}=draining`));
    const states = stepStates(moved.stderr);
    for (const step of ['RUN echo one', 'RUN cat /app.txt']) {
      const found = [...states].find(([name]) => name.includes(step));
      assert.ok(found, `${step} in\n${moved.stderr}`);
      assert.equal(found[1], true, `${step} was not CACHED on ${moved.node}:\n${moved.stderr}`);
    }
    assert.equal(
      await readFile(join(moved.out, 'two'), 'utf8'),
      await readFile(join(first.out, 'two'), 'utf8'),
    );

    assert.equal(await longDone, 0, `the draining node finished its build:\n${longLog}`);
    assert.equal(await exited, 0);
  });
});
