import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { toBinary } from '@bufbuild/protobuf';
import { git, http, marshal, type State } from '../../llb/index.js';
import { DefinitionSchema } from '../../proto/gen/pb/ops_pb.js';
import { buildctl } from '../fixtures/buildctl.js';
import { buildctlPath, startKilnd, type KilndProcess } from '../fixtures/kilnd.js';

const sh = promisify(execFile);
const skip = buildctlPath() ? false : 'no buildctl (set BUILDCTL=/path/to/buildctl)';

describe('git and http sources', { skip }, () => {
  let daemon: KilndProcess;
  let work: string;
  let web: Server;
  let webPort = 0;
  let gitDaemon: ChildProcess;
  let gitPort = 0;
  let requests: string[] = [];
  let etag = '"v1"';
  let body = 'first version\n';

  const build = async (state: State, dest: string) => {
    const result = await buildctl(
      daemon.address,
      ['build', '--progress', 'plain', '--output', `type=local,dest=${dest}`],
      toBinary(DefinitionSchema, marshal(state)),
    );
    assert.equal(result.code, 0, result.stderr);
    return result;
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-sources-'));
    web = createServer((req, res) => {
      requests.push(`${req.method} ${req.headers['if-none-match'] ?? ''}`);
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304).end();
        return;
      }
      res.writeHead(200, { etag, 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webPort = (web.address() as { port: number }).port;

    const repo = join(work, 'repos', 'app.git');
    const src = join(work, 'src');
    const git = (args: string[], cwd = src) =>
      sh('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd });
    await sh('mkdir', ['-p', src, join(work, 'repos')]);
    await git(['init', '-q', '-b', 'main']);
    await writeFile(join(src, 'README'), 'hello from git\n');
    await sh('mkdir', ['-p', join(src, 'sub')]);
    await writeFile(join(src, 'sub', 'inner.txt'), 'inner\n');
    await git(['add', '.']);
    await git(['commit', '-q', '-m', 'one']);
    await git(['tag', '-a', 'v1', '-m', 'v1']);
    await sh('git', ['clone', '-q', '--bare', src, repo]);
    gitPort = 20000 + Math.floor(Math.random() * 20000);
    gitDaemon = spawn(
      'git',
      [
        'daemon',
        '--export-all',
        `--base-path=${join(work, 'repos')}`,
        `--port=${gitPort}`,
        '--listen=127.0.0.1',
        '--reuseaddr',
      ],
      {
        stdio: 'ignore',
      },
    );
    await sleep(300);
    daemon = await startKilnd();
  });

  after(async () => {
    gitDaemon?.kill();
    web?.close();
    await daemon?.dispose();
    await rm(work, { recursive: true, force: true });
  });

  it('checks out a tag, a subdirectory, and keeps .git only when asked', async () => {
    const remote = `git://127.0.0.1:${gitPort}/app.git`;
    const out = join(work, 'out-git');
    await build(git(remote, 'v1'), out);
    assert.equal(await readFile(join(out, 'README'), 'utf8'), 'hello from git\n');
    await assert.rejects(stat(join(out, '.git')));
    const sub = join(work, 'out-sub');
    await build(git(remote, 'main', { subdir: 'sub' }), sub);
    assert.equal(await readFile(join(sub, 'inner.txt'), 'utf8'), 'inner\n');
    const keep = join(work, 'out-keep');
    await build(git(remote, 'main', { keepGitDir: true }), keep);
    assert.ok((await stat(join(keep, '.git'))).isDirectory());
  });

  it('downloads a URL, revalidates it with its ETag, and notices a change', async () => {
    const url = `http://127.0.0.1:${webPort}/files/data.txt`;
    const out = join(work, 'out-http');
    await build(http(url, { perm: 0o644 }), out);
    assert.equal(await readFile(join(out, 'data.txt'), 'utf8'), 'first version\n');
    assert.equal((await stat(join(out, 'data.txt'))).mode & 0o777, 0o644);
    requests = [];
    const again = await build(http(url, { perm: 0o644 }), join(work, 'out-http-2'));
    assert.deepEqual(requests, ['GET "v1"']);
    assert.match(again.stderr, /CACHED/);
    etag = '"v2"';
    body = 'second version\n';
    const changed = join(work, 'out-http-3');
    await build(http(url, { perm: 0o644 }), changed);
    assert.equal(await readFile(join(changed, 'data.txt'), 'utf8'), 'second version\n');
  });
});
