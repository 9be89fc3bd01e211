import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { createServer } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  Client,
  Metadata,
  credentials as grpcCredentials,
  type Server,
  type ServerDuplexStream,
} from '@grpc/grpc-js';
import {
  AuthProvider,
  FileSendProvider,
  FileSyncProvider,
  SecretsProvider,
  SshProvider,
  openSession,
  type SessionHandle,
  type SessionProvider,
} from '../client/session/index.js';
import { grpcServiceDefinition } from '../proto/index.js';
import {
  PacketSchema,
  Packet_PacketType as PacketType,
  type Packet,
} from '../proto/gen/fsutil/types/wire_pb.js';
import { StatSchema } from '../proto/gen/fsutil/types/stat_pb.js';
import { BytesMessageSchema } from '../proto/gen/moby/buildkit/v1/control_pb.js';
import { FileSync } from '../proto/gen/moby/filesync/v1/filesync_pb.js';
import {
  FileSyncProtocolError,
  SessionEndedError,
  SessionManager,
  SessionNotFoundError,
  bytesMessageCodec,
  checkAgent,
  credentials,
  fetchToken,
  forwardSSHAgent,
  getSecret,
  parseSessionMetadata,
  receiveDirectory,
  sendDirectory,
  sendStream,
  type Session,
} from './index.js';
import { startTestDaemon, type TestDaemon } from './test-daemon.js';
import { describeTree, makeTree } from './tree-fixture.js';
import { decodePacket, decodeStat, encodePacket } from './wire-codec.js';

let work: string;
let daemon: TestDaemon;
let client: Client;

before(async () => {
  work = await fsp.mkdtemp(join(tmpdir(), 'kiln-session-test-'));
  daemon = await startTestDaemon();
  client = new Client(daemon.address, grpcCredentials.createInsecure());
});

after(async () => {
  client.close();
  await daemon.close();
  await fsp.rm(work, { recursive: true, force: true });
});

async function withSession<T>(
  providers: SessionProvider[],
  fn: (session: Session, handle: SessionHandle) => Promise<T>,
): Promise<T> {
  const handle = openSession(client, { name: 'test', providers });
  try {
    const session = await daemon.manager.get(handle.id, { timeoutMs: 5000 });
    return await fn(session, handle);
  } finally {
    await handle.close();
  }
}

async function emptyDir(name: string): Promise<string> {
  const dir = join(work, name);
  await fsp.mkdir(dir);
  return dir;
}

const sha = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe('session metadata', () => {
  it('splits the method list grpc-js folds into one comma-joined value', () => {
    const md = new Metadata();
    md.set('x-docker-expose-session-uuid', 'abc');
    md.set('x-docker-expose-session-name', 'ctx1');
    md.set('x-docker-expose-session-sharedkey', '');
    md.set(
      'x-docker-expose-session-grpc-method',
      '/moby.filesync.v1.FileSync/DiffCopy, /moby.filesync.v1.Auth/Credentials',
    );
    md.add('x-docker-expose-session-grpc-method', '/grpc.health.v1.Health/Check');
    const info = parseSessionMetadata(md);
    assert.deepEqual(info, {
      id: 'abc',
      name: 'ctx1',
      sharedKey: '',
      methods: [
        '/moby.filesync.v1.FileSync/DiffCopy',
        '/moby.filesync.v1.Auth/Credentials',
        '/grpc.health.v1.Health/Check',
      ],
    });
  });

  it('announces the providers and answers supports() case-insensitively', async () => {
    await withSession(
      [new FileSyncProvider({ dirs: {} }), new SecretsProvider({ secrets: {} })],
      async (session) => {
        assert.equal(session.name, 'test');
        assert.ok(session.supports('/moby.filesync.v1.filesync/diffcopy'));
        assert.ok(session.supports('/moby.buildkit.secrets.v1.Secrets/GetSecret'));
        assert.ok(session.supports('/grpc.health.v1.Health/Check'));
        assert.ok(!session.supports('/moby.filesync.v1.FileSend/DiffCopy'));
      },
    );
  });

  it('get() waits for a session that arrives later and times out for one that never does', async () => {
    const waiting = daemon.manager.get('late-session', { timeoutMs: 3000 });
    const handle = openSession(client, { id: 'late-session', name: 'late', providers: [] });
    const session = await waiting;
    assert.equal(session.id, 'late-session');
    await handle.close();
    await assert.rejects(daemon.manager.get('never', { timeoutMs: 50 }), SessionNotFoundError);
  });

  it('fast BytesMessage and Packet codecs agree with the generated ones', () => {
    const data = Buffer.from('x'.repeat(300));
    assert.deepEqual(
      Buffer.from(bytesMessageCodec.serialize(create(BytesMessageSchema, { data }))),
      Buffer.from(toBinary(BytesMessageSchema, create(BytesMessageSchema, { data }))),
    );
    assert.deepEqual(
      Buffer.from(
        bytesMessageCodec.deserialize(
          Buffer.from(toBinary(BytesMessageSchema, create(BytesMessageSchema, { data }))),
        ).data,
      ),
      data,
    );
    const packets = [
      create(PacketSchema, {}),
      create(PacketSchema, { type: PacketType.PACKET_REQ, ID: 70000 }),
      create(PacketSchema, { type: PacketType.PACKET_DATA, ID: 3, data }),
      create(PacketSchema, {
        stat: {
          path: 'a/b',
          mode: (0x80000000 | 0o755) >>> 0,
          size: 5n,
          modTime: 1795802429533879822n,
          xattrs: { 'user.x': new Uint8Array([1, 2]) },
        },
      }),
    ];
    for (const packet of packets) {
      const generated = toBinary(PacketSchema, packet);
      assert.deepEqual(Buffer.from(encodePacket(packet)), Buffer.from(generated));
      const decoded = decodePacket(generated);
      assert.equal(decoded.type, packet.type);
      assert.equal(decoded.ID, packet.ID);
      assert.deepEqual(Buffer.from(decoded.data), Buffer.from(packet.data));
      assert.deepEqual(decoded.stat, packet.stat);
    }
    const stats = [
      create(StatSchema, {}),
      create(StatSchema, {
        path: 'dir/ünïcødé file',
        mode: (0x80000000 | 0o4755) >>> 0,
        uid: 4294967295,
        gid: 1000,
        size: 9007199254740993n,
        modTime: -1n,
        linkname: '../target',
        devmajor: 8n,
        devminor: 1n,
        xattrs: { 'user.a': new Uint8Array([0, 255]), 'security.capability': new Uint8Array(0) },
      }),
    ];
    for (const stat of stats) assert.deepEqual(decodeStat(toBinary(StatSchema, stat)), stat);
    assert.throws(() => decodeStat(toBinary(StatSchema, stats[1]!).subarray(0, 20)), /truncated/);
  });
});

/** Receives the `context` directory into `dest`, reusing what an earlier transfer put in `dir`. */
function receiveAfter(
  session: Parameters<typeof receiveDirectory>[0],
  dest: string,
  earlier: { dir: string; result: Awaited<ReturnType<typeof receiveDirectory>> },
  options: { differ?: 'none' } = {},
) {
  return receiveDirectory(session, {
    dirName: 'context',
    dest,
    previous: { dir: earlier.dir, entries: earlier.result.entries },
    ...options,
  });
}

describe('FileSync.DiffCopy receiver', () => {
  let source: string;
  before(async () => {
    source = await makeTree(await emptyDir('src'));
  });

  it('receives a full tree: content, modes, empty dirs, symlinks kept as links, hardlinks, digests', async () => {
    const etcBefore = await fsp.stat('/etc');
    await withSession([new FileSyncProvider({ dirs: { context: source } })], async (session) => {
      const dest = await emptyDir('full');
      const result = await receiveDirectory(session, { dirName: 'context', dest });
      const want = await describeTree(source);
      assert.deepEqual(await describeTree(dest), want);
      assert.equal(result.requested, 7);
      assert.equal(result.entries.get('hello.txt')?.digest, sha('hello\n'));
      assert.equal(result.entries.get('sub/hello-hardlink.txt')?.stat.linkname, 'hello.txt');
      assert.equal(result.entries.get('sub/hello-hardlink.txt')?.digest, sha('hello\n'));
      assert.equal(result.entries.get('sub/deeper/big.bin')?.digest, sha(Buffer.alloc(200_000, 7)));
      assert.equal(result.entries.get('etc-link')?.stat.linkname, '/etc');
      assert.equal(result.bytes, 200_000 + 6 + 18 + 1 + 2 + 1);
      assert.deepEqual([...result.entries.keys()].slice(0, 5), [
        'a-link',
        'dangling',
        'empty',
        'etc-link',
        'hello.txt',
      ]);
      // mtimes are kept to the microsecond (Node's utimes precision), directories included.
      for (const path of ['sub', 'hello.txt', 'etc-link', 'sub/deeper/big.bin', 'empty']) {
        const [a, b] = await Promise.all([
          fsp.lstat(join(source, path), { bigint: true }),
          fsp.lstat(join(dest, path), { bigint: true }),
        ]);
        assert.equal(b.mtimeNs / 1000n, a.mtimeNs / 1000n, path);
      }
    });
    const etcAfter = await fsp.stat('/etc');
    assert.equal(etcAfter.mtimeMs, etcBefore.mtimeMs);
  });

  it('incremental: only the changed file is requested; unchanged files are hardlinked from the previous tree', async () => {
    const src = await makeTree(await emptyDir('inc-src'));
    await withSession([new FileSyncProvider({ dirs: { context: src } })], async (session) => {
      const first = await emptyDir('inc-1');
      const r1 = await receiveDirectory(session, { dirName: 'context', dest: first });
      await fsp.writeFile(join(src, 'sub/a.txt'), 'changed\n');
      const second = await emptyDir('inc-2');
      const r2 = await receiveAfter(session, second, { dir: first, result: r1 });
      assert.equal(r2.requested, 1);
      assert.equal(r2.bytes, 8);
      assert.deepEqual(await describeTree(second), await describeTree(src));
      assert.equal(r2.entries.get('sub/a.txt')?.digest, sha('changed\n'));
      assert.equal(r2.entries.get('run.sh')?.digest, r1.entries.get('run.sh')?.digest);
      const [a, b] = await Promise.all([fsp.stat(join(first, 'run.sh')), fsp.stat(join(second, 'run.sh'))]);
      assert.equal(a.ino, b.ino);
      assert.equal(await fsp.readFile(join(first, 'sub/a.txt'), 'utf8'), 'a\n');
      const third = await emptyDir('inc-3');
      const r3 = await receiveAfter(session, third, { dir: second, result: r2 }, { differ: 'none' });
      assert.equal(r3.requested, 7);
      assert.equal(r3.unchanged, false, 'differ none never reuses');
    });
  });

  it('incremental: a previous file that can no longer be linked is requested instead', async () => {
    const src = await makeTree(await emptyDir('gone-src'));
    await withSession([new FileSyncProvider({ dirs: { context: src } })], async (session) => {
      const first = await emptyDir('gone-1');
      const r1 = await receiveDirectory(session, { dirName: 'context', dest: first });
      await fsp.rm(join(first, 'run.sh'));
      await fsp.writeFile(join(src, 'sub/a.txt'), 'changed\n');
      const second = await emptyDir('gone-2');
      const r2 = await receiveAfter(session, second, { dir: first, result: r1 });
      assert.equal(r2.requested, 2, 'the changed file and the one that could not be linked');
      assert.deepEqual(await describeTree(second), await describeTree(src));
      assert.equal(r2.entries.get('run.sh')?.digest, r1.entries.get('run.sh')?.digest);
    });
  });

  it('incremental: an unchanged tree links nothing and says so', async () => {
    const src = await makeTree(await emptyDir('same-src'));
    await withSession([new FileSyncProvider({ dirs: { context: src } })], async (session) => {
      const first = await emptyDir('same-1');
      const r1 = await receiveDirectory(session, { dirName: 'context', dest: first });
      assert.equal(r1.unchanged, false);
      const second = await emptyDir('same-2');
      const r2 = await receiveAfter(session, second, { dir: first, result: r1 });
      assert.equal(r2.unchanged, true);
      assert.equal(r2.requested, 0);
      assert.deepEqual(
        [...r2.entries].map(([p, e]) => [p, e.digest]),
        [...r1.entries].map(([p, e]) => [p, e.digest]),
      );
      const files = (await fsp.readdir(second, { recursive: true, withFileTypes: true })).filter((e) =>
        e.isFile(),
      );
      assert.deepEqual(files, [], 'no regular file was linked');
      // One changed mode is a change: everything is linked again, the changed file requested.
      await fsp.chmod(join(src, 'run.sh'), 0o700);
      const third = await emptyDir('same-3');
      const r3 = await receiveAfter(session, third, { dir: first, result: r1 });
      assert.equal(r3.unchanged, false);
      assert.equal(r3.requested, 1);
      assert.deepEqual(await describeTree(third), await describeTree(src));
    });
  });

  it('followpaths sends only those paths and their parents', async () => {
    await withSession([new FileSyncProvider({ dirs: { context: source } })], async (session) => {
      const dest = await emptyDir('follow');
      const result = await receiveDirectory(session, {
        dirName: 'context',
        dest,
        followPaths: ['sub/a.txt', 'a-link'],
      });
      // a-link → sub/a.txt is followed to its target, which is already included.
      assert.deepEqual([...result.entries.keys()], ['a-link', 'sub', 'sub/a.txt']);
      assert.equal(result.requested, 1);
    });
  });

  it('include and exclude patterns with re-includes and **', async () => {
    await withSession([new FileSyncProvider({ dirs: { context: source } })], async (session) => {
      const dest = await emptyDir('patterns');
      const result = await receiveDirectory(session, {
        dirName: 'context',
        dest,
        excludePatterns: ['**/*.txt', '!sub/a.txt', 'private', 'sub/deeper'],
      });
      assert.deepEqual(
        [...result.entries.keys()],
        [
          'a-link',
          'dangling',
          'empty',
          'etc-link',
          'loop',
          'run.sh',
          'secret.key',
          'sub',
          'sub/a.txt',
          'sub/empty-file',
        ],
      );
      const included = await emptyDir('include');
      const inc = await receiveDirectory(session, {
        dirName: 'context',
        dest: included,
        includePatterns: ['sub/**/*.bin', 'run.sh'],
      });
      assert.deepEqual([...inc.entries.keys()], ['run.sh', 'sub', 'sub/deeper', 'sub/deeper/big.bin']);
    });
  });

  it('an unknown directory name fails with not-found', async () => {
    await withSession([new FileSyncProvider({ dirs: {} })], async (session) => {
      await assert.rejects(
        receiveDirectory(session, { dirName: 'nope', dest: await emptyDir('nope') }),
        (err: Error & { kind?: string }) => {
          assert.equal(err.kind, 'not-found');
          assert.match(err.message, /no access allowed to dir "nope"/);
          return true;
        },
      );
    });
  });

  it('rejects a hostile sender: paths through a symlink, escaping paths, unsorted entries', async () => {
    const outside = await emptyDir('outside');
    const cases: {
      name: string;
      stats: { path: string; mode: number; linkname?: string }[];
      error: RegExp;
    }[] = [
      {
        name: 'through-symlink',
        stats: [
          { path: 'evil', mode: (1 << 27) | 0o777, linkname: outside },
          { path: 'evil/x', mode: 0o644 },
        ],
        error: /parent/,
      },
      { name: 'escape', stats: [{ path: '../x', mode: 0o644 }], error: /invalid path/ },
      { name: 'absolute', stats: [{ path: '/etc/x', mode: 0o644 }], error: /invalid path/ },
      {
        name: 'order',
        stats: [
          { path: 'b', mode: 0o644 },
          { path: 'a', mode: 0o644 },
        ],
        error: /out of order/,
      },
    ];
    for (const c of cases) {
      const hostile: SessionProvider = {
        register: (server: Server) => {
          server.addService(grpcServiceDefinition(FileSync), {
            diffCopy: (call: ServerDuplexStream<Packet, Packet>) => {
              for (const stat of c.stats)
                call.write(create(PacketSchema, { stat: { ...stat, mode: stat.mode >>> 0 } }));
              call.write(create(PacketSchema, {}));
              call.on('data', () => undefined);
              call.on('error', () => undefined);
            },
          });
          return ['/moby.filesync.v1.FileSync/DiffCopy'];
        },
      };
      await withSession([hostile], async (session) => {
        await assert.rejects(
          receiveDirectory(session, { dirName: 'x', dest: await emptyDir(`hostile-${c.name}`) }),
          (err: Error) => {
            assert.ok(err instanceof FileSyncProtocolError, `${c.name}: ${err.message}`);
            assert.match(err.message, c.error);
            return true;
          },
        );
      });
    }
    assert.deepEqual(await fsp.readdir(outside), []);
  });
});

describe('FileSend', () => {
  it('directory mode reproduces the tree (content, modes, symlinks, empty dirs, hardlinks)', async () => {
    const source = await makeTree(await emptyDir('send-src'));
    const out = join(work, 'send-out');
    await withSession(
      [new FileSendProvider({ output: { type: 'directory', dir: out } })],
      async (session) => {
        const first = await sendDirectory(session, { root: source });
        assert.equal(first.requested, 7);
        // A second export into the same directory only sends what differs.
        await fsp.writeFile(join(source, 'sub/a.txt'), 'again\n');
        const second = await sendDirectory(session, { root: source });
        assert.deepEqual([second.requested, second.bytes], [1, 6]);
      },
    );
    assert.deepEqual(await describeTree(out), await describeTree(source));
    const prefixed = join(work, 'send-prefixed');
    await withSession(
      [new FileSendProvider({ output: { type: 'directory', dir: prefixed } })],
      async (session) => {
        await sendDirectory(session, { root: source, prefix: 'linux_amd64' });
      },
    );
    assert.deepEqual(await describeTree(join(prefixed, 'linux_amd64')), await describeTree(source));
  });

  it('byte-stream mode delivers a tar whose extraction reproduces the tree', async () => {
    const source = await makeTree(await emptyDir('stream-src'));
    const tarFile = join(work, 'out.tar');
    const tar = execFileSync('tar', ['-C', source, '-cf', '-', '.']);
    let metadata: Record<string, string> = {};
    await withSession(
      [new FileSendProvider({ output: { type: 'file', path: tarFile }, onMetadata: (m) => (metadata = m) })],
      async (session) => {
        const readable = new PassThrough();
        const sending = sendStream(session, readable, {
          metadata: { 'exporter-md-containerimage.digest': 'sha256:abc' },
        });
        for (let i = 0; i < tar.length; i += 10_000) readable.write(tar.subarray(i, i + 10_000));
        readable.end();
        await sending;
      },
    );
    assert.deepEqual(await fsp.readFile(tarFile), tar);
    assert.deepEqual(metadata, { 'containerimage.digest': 'sha256:abc' });
    const extracted = await emptyDir('stream-x');
    execFileSync('tar', ['-C', extracted, '-xf', tarFile]);
    assert.deepEqual(await describeTree(extracted), await describeTree(source));
  });
});

describe('Auth, Secrets, SSH', () => {
  it('credentials come from the client docker config; unknown hosts have none', async () => {
    const auth = new AuthProvider({
      config: {
        auths: {
          'registry.example:5000': { auth: Buffer.from('alice:s3cret').toString('base64') },
          'https://index.docker.io/v1/': { auth: Buffer.from('bob:pw').toString('base64') },
        },
      },
    });
    await withSession([auth], async (session) => {
      assert.deepEqual(await credentials(session, 'registry.example:5000'), {
        username: 'alice',
        secret: 's3cret',
      });
      assert.deepEqual(await credentials(session, 'registry-1.docker.io'), { username: 'bob', secret: 'pw' });
      assert.equal(await credentials(session, 'other.example'), undefined);
    });
    await withSession([], async (session) => {
      assert.equal(await credentials(session, 'registry.example:5000'), undefined);
    });
  });

  it('fetchToken lets the client do the token exchange with its credentials', async () => {
    const seen: string[] = [];
    const server = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${body}`);
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({ access_token: 'tok-123', expires_in: 300, issued_at: '2026-01-01T00:00:00Z' }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const auth = new AuthProvider({
        config: { auths: { 'reg.test': { username: 'alice', password: 'pw' } } },
      });
      await withSession([auth], async (session) => {
        const token = await fetchToken(session, {
          host: 'reg.test',
          realm: `http://127.0.0.1:${port}/token`,
          service: 'reg',
          scopes: ['repository:a:pull'],
        });
        assert.deepEqual(token, { token: 'tok-123', expiresIn: 300, issuedAt: 1767225600 });
      });
      assert.equal(seen.length, 1);
      assert.match(seen[0] as string, /^POST \/token .*grant_type=password/);
      assert.match(seen[0] as string, /scope=repository%3Aa%3Apull/);
    } finally {
      server.close();
    }
  });

  it('getSecret returns the value, or undefined for an unknown id', async () => {
    const file = join(work, 'secret.txt');
    await fsp.writeFile(file, 'topsecret\n');
    const secrets = new SecretsProvider({
      secrets: { s: { file }, e: { env: 'MY_SECRET' } },
      env: { MY_SECRET: 'from-env' },
    });
    await withSession([secrets], async (session) => {
      assert.equal(Buffer.from((await getSecret(session, 's')) ?? []).toString(), 'topsecret\n');
      assert.equal(Buffer.from((await getSecret(session, 'e')) ?? []).toString(), 'from-env');
      assert.equal(await getSecret(session, 'missing'), undefined);
    });
  });

  it('SSH agent forwarding relays bytes both ways through a private socket', async () => {
    const agentPath = join(work, 'agent.sock');
    const agent = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => agent.listen(agentPath, resolve));
    try {
      await withSession([new SshProvider({ agents: { default: agentPath } })], async (session) => {
        await checkAgent(session, 'default');
        await assert.rejects(
          checkAgent(session, 'other'),
          (err: Error & { kind?: string }) => err.kind === 'not-found',
        );
        const forward = await forwardSSHAgent(session, 'default');
        try {
          assert.equal((await fsp.stat(join(forward.socketPath, '..'))).mode & 0o777, 0o700);
          for (const payload of ['ping', 'x'.repeat(100_000)]) {
            const echoed = await new Promise<string>((resolve, reject) => {
              const sock = connect(forward.socketPath);
              let got = '';
              sock.on('data', (c: Buffer) => {
                got += c.toString();
                if (got.length >= payload.length) sock.end();
              });
              sock.on('close', () => resolve(got));
              sock.on('error', reject);
              sock.write(payload);
            });
            assert.equal(echoed, payload);
          }
        } finally {
          await forward.close();
        }
        await assert.rejects(fsp.stat(forward.socketPath));
      });
    } finally {
      agent.close();
    }
  });
});

describe('cancellation', () => {
  it('an aborted signal stops a transfer with a canceled error', async () => {
    const big = await emptyDir('abort-src');
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        fsp.writeFile(join(big, `f${String(i).padStart(3, '0')}`), Buffer.alloc(50_000, i)),
      ),
    );
    await withSession([new FileSyncProvider({ dirs: { context: big } })], async (session) => {
      const controller = new AbortController();
      const transfer = receiveDirectory(session, {
        dirName: 'context',
        dest: await emptyDir('abort-dest'),
        signal: controller.signal,
        onProgress: (p) => {
          if (p.completed === 3) controller.abort(new Error('user pressed ^C'));
        },
      });
      await assert.rejects(transfer, (err: Error & { kind?: string }) => {
        assert.equal(err.kind, 'canceled');
        return true;
      });
    });
  });

  it('closing the manager fails pending get() calls', async () => {
    const manager = new SessionManager();
    const pending = manager.get('nobody', { timeoutMs: 10_000 });
    manager.close();
    await assert.rejects(pending, SessionEndedError);
  });
});

describe('session end', () => {
  it('fails pending and later calls with "session <id> ended"', async () => {
    let started!: () => void;
    const began = new Promise<void>((resolve) => (started = resolve));
    const hanging: SessionProvider = {
      register: (server: Server) => {
        server.addService(grpcServiceDefinition(FileSync), {
          diffCopy: (call: ServerDuplexStream<Packet, Packet>) => {
            call.on('error', () => undefined);
            started();
          },
        });
        return ['/moby.filesync.v1.FileSync/DiffCopy'];
      },
    };
    const handle = openSession(client, { name: 'ending', providers: [hanging] });
    const session = await daemon.manager.get(handle.id);
    const dest = await emptyDir('ending');
    const pending = receiveDirectory(session, { dirName: 'x', dest }).then(
      () => assert.fail('the transfer should fail when the session ends'),
      (err: unknown) => err,
    );
    await began;
    await handle.close();
    await assert.rejects(Promise.reject(await pending), (err: Error) => {
      assert.ok(err instanceof SessionEndedError, err.message);
      assert.equal(err.message, `session ${handle.id} ended`);
      assert.equal(err.kind, 'unavailable');
      return true;
    });
    await session.closed;
    assert.throws(() => session.open('/moby.filesync.v1.FileSync/DiffCopy'), SessionEndedError);
  });
});
