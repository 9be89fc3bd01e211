// A real buildctl v0.11.6 against kiln's session code, through the test-only daemon.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { getAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import { getSecret, receiveDirectory, sendDirectory, sendStream, type ReceivedEntry } from './index.js';
import { startTestDaemon, type TestDaemon, type TestDaemonHooks } from './test-daemon.js';
import { describeTree, makeTree } from './tree-fixture.js';

const BUILDCTL = '/tmp/bk/buildctl';
const skip = existsSync(BUILDCTL) ? false : `${BUILDCTL} not present`;

let work: string;
let daemon: TestDaemon;
let hooks: TestDaemonHooks = {};

function buildctl(args: string[]): Promise<{ ms: number; stderr: string }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      BUILDCTL,
      ['--addr', daemon.address, 'build', '--frontend', 'dockerfile.v0', ...args],
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`buildctl failed: ${stderr}`, { cause: err }));
        else resolve({ ms: Date.now() - started, stderr });
      },
    );
  });
}

interface Received {
  dockerfile: Awaited<ReturnType<typeof receiveDirectory>>;
  context: Awaited<ReturnType<typeof receiveDirectory>>;
  contextDir: string;
  ms: number;
}

/** Frontend hook: pulls `dockerfile` (as BuildKit's frontend does: follow paths, differ none) and `context`. */
function pullContext(state: {
  previous?: { dir: string; entries: ReadonlyMap<string, ReceivedEntry> };
  last?: Received;
}): TestDaemonHooks['frontendSolve'] {
  return async ({ session }) => {
    const started = Date.now();
    const dockerfileDir = await fsp.mkdtemp(join(work, 'df-'));
    const dockerfile = await receiveDirectory(session, {
      dirName: 'dockerfile',
      dest: dockerfileDir,
      followPaths: ['Dockerfile', 'Dockerfile.dockerignore', 'dockerfile'],
      differ: 'none',
    });
    const contextDir = await fsp.mkdtemp(join(work, 'ctx-'));
    const context = await receiveDirectory(session, {
      dirName: 'context',
      dest: contextDir,
      ...(state.previous ? { previous: state.previous } : {}),
    });
    state.previous = { dir: contextDir, entries: context.entries };
    state.last = { dockerfile, context, contextDir, ms: Date.now() - started };
  };
}

before(async () => {
  work = await fsp.mkdtemp(join(tmpdir(), 'kiln-buildctl-test-'));
  daemon = await startTestDaemon({
    frontendSolve: (ctx) => (hooks.frontendSolve ? hooks.frontendSolve(ctx) : Promise.resolve()),
    exporter: (ctx) => (hooks.exporter ? hooks.exporter(ctx) : Promise.resolve({})),
  });
});

after(async () => {
  await daemon?.close();
  await fsp.rm(work, { recursive: true, force: true });
});

describe('real buildctl v0.11.6', { skip }, () => {
  it('--local context and dockerfile: the received tree equals DIR; a rebuild requests only the changed file', async () => {
    const dir = await makeTree(await fsp.mkdtemp(join(work, 'src-')));
    await fsp.writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    const state: Parameters<typeof pullContext>[0] = {};
    hooks = { frontendSolve: pullContext(state) };
    await buildctl(['--local', `context=${dir}`, '--local', `dockerfile=${dir}`]);
    const first = state.last as Received;
    assert.deepEqual([...first.dockerfile.entries.keys()], ['Dockerfile']);
    assert.deepEqual(await describeTree(first.contextDir), await describeTree(dir));
    assert.equal(first.context.requested, 8);
    // The links are links: the received /etc link points at /etc and nothing of /etc was read.
    assert.equal(await fsp.readlink(join(first.contextDir, 'etc-link')), '/etc');
    assert.equal(await fsp.readlink(join(first.contextDir, 'loop')), 'loop');

    await fsp.writeFile(join(dir, 'sub/a.txt'), 'changed\n');
    await buildctl(['--local', `context=${dir}`, '--local', `dockerfile=${dir}`]);
    const second = state.last as Received;
    assert.equal(second.context.requested, 1);
    assert.equal(second.context.bytes, 'changed\n'.length);
    assert.deepEqual(await describeTree(second.contextDir), await describeTree(dir));

    // An xattr set alone (size and mtime as they were) makes the file a change: the reused
    // previous file is a link, which must never be changed in place.
    setAttributeSync(join(dir, 'run.sh'), 'user.kiln', Buffer.from('new'));
    await buildctl(['--local', `context=${dir}`, '--local', `dockerfile=${dir}`]);
    const third = state.last as Received;
    assert.equal(third.context.requested, 1);
    assert.equal(getAttributeSync(join(third.contextDir, 'run.sh'), 'user.kiln')?.toString(), 'new');
    assert.equal(getAttributeSync(join(second.contextDir, 'run.sh'), 'user.kiln'), null);
  });

  it('--output type=local and type=tar reproduce the result tree on the client', async () => {
    const dir = await fsp.mkdtemp(join(work, 'ctx-src-'));
    await fsp.writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n');
    const result = await makeTree(await fsp.mkdtemp(join(work, 'result-')));
    const tar = execFileSync('tar', ['-C', result, '-cf', '-', '.']);
    hooks = {
      exporter: async ({ session, exporter }) => {
        if (exporter === 'local') await sendDirectory(session, { root: result });
        else await sendStream(session, Readable.from([tar.subarray(0, 5000), tar.subarray(5000)]));
        return {};
      },
    };
    const out = join(work, 'out-local');
    await buildctl([
      '--local',
      `context=${dir}`,
      '--local',
      `dockerfile=${dir}`,
      '--output',
      `type=local,dest=${out}`,
    ]);
    assert.deepEqual(await describeTree(out), await describeTree(result));
    const tarFile = join(work, 'out.tar');
    await buildctl([
      '--local',
      `context=${dir}`,
      '--local',
      `dockerfile=${dir}`,
      '--output',
      `type=tar,dest=${tarFile}`,
    ]);
    assert.deepEqual(await fsp.readFile(tarFile), tar);
  });

  it('--secret id=s,src=FILE: GetSecret returns the file content', async () => {
    const dir = await fsp.mkdtemp(join(work, 'secret-ctx-'));
    await fsp.writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n');
    const file = join(work, 'secret.txt');
    await fsp.writeFile(file, 'topsecret\n');
    let seen: Uint8Array | undefined;
    let missing: Uint8Array | undefined = new Uint8Array(1);
    hooks = {
      frontendSolve: async ({ session }) => {
        seen = await getSecret(session, 's');
        missing = await getSecret(session, 'nope');
      },
    };
    await buildctl([
      '--local',
      `context=${dir}`,
      '--local',
      `dockerfile=${dir}`,
      '--secret',
      `id=s,src=${file}`,
    ]);
    assert.equal(Buffer.from(seen ?? []).toString(), 'topsecret\n');
    assert.equal(missing, undefined);
  });

  it('a 5,000-file ~59 MB context: cold transfer, then one changed file', async (t) => {
    const dir = await fsp.mkdtemp(join(work, 'big-'));
    let total = 0;
    const digests = new Map<string, string>();
    for (let d = 0; d < 50; d++) {
      await fsp.mkdir(join(dir, `dir${String(d).padStart(2, '0')}`));
      await Promise.all(
        Array.from({ length: 100 }, async (_, f) => {
          const data = randomBytes(100 + (((d * 100 + f) * 7919) % 23400));
          total += data.length;
          const path = `dir${String(d).padStart(2, '0')}/file${String(f).padStart(3, '0')}.bin`;
          digests.set(path, `sha256:${createHash('sha256').update(data).digest('hex')}`);
          await fsp.writeFile(join(dir, path), data);
        }),
      );
    }
    await fsp.writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    const state: Parameters<typeof pullContext>[0] = {};
    hooks = { frontendSolve: pullContext(state) };
    const cold = await buildctl(['--local', `context=${dir}`, '--local', `dockerfile=${dir}`]);
    const first = state.last as Received;
    assert.equal(first.context.requested, 5001);
    assert.equal(first.context.bytes, total + 'FROM scratch\nCOPY . /\n'.length);
    for (const [path, digest] of digests) assert.equal(first.context.entries.get(path)?.digest, digest);
    await fsp.writeFile(join(dir, 'dir07/file042.bin'), 'changed');
    const warm = await buildctl(['--local', `context=${dir}`, '--local', `dockerfile=${dir}`]);
    const second = state.last as Received;
    assert.equal(second.context.requested, 1);
    t.diagnostic(
      `${(total / 1e6).toFixed(1)} MB in 5001 files: cold build ${cold.ms} ms (transfer ${first.ms} ms), after one change ${warm.ms} ms (transfer ${second.ms} ms)`,
    );
  });
});
