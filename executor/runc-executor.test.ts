import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ContainerStartError,
  ExecError,
  RuncExecutor,
  RuntimeUnavailableError,
  UserNotFoundError,
  defaultPathEnv,
  mountsUnder,
} from './index.js';
import { capture, copiedRootfs, filesContaining, overlayRootfs, runOptions } from './test-rootfs.js';

describe('RuncExecutor', () => {
  let root: string;
  let executor: RuncExecutor;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-executor-'));
    executor = new RuncExecutor({ root });
    await executor.recover();
  });

  after(async () => {
    await executor.recover();
    assert.deepEqual(await mountsUnder(root), []);
    await rm(root, { recursive: true, force: true });
  });

  /** Runs `sh -c script` on a fresh overlay rootfs and hands the result to `check`. */
  async function sh(
    script: string,
    extra: Parameters<typeof runOptions>[2] & { process?: Partial<Parameters<RuncExecutor['run']>[0]> } = {},
  ) {
    const fs = await overlayRootfs();
    const io = capture();
    try {
      const { process: proc, ...opts } = extra;
      const code = await executor.run(
        { args: ['sh', '-c', script], ...proc },
        runOptions(fs.mounts, io, opts),
      );
      return { code, out: io.out(), err: io.err(), upper: fs.upper };
    } finally {
      await fs.dispose();
    }
  }

  it('streams stdout and stderr while the process runs', async () => {
    const fs = await overlayRootfs();
    const io = capture();
    let firstAt = 0;
    io.stdout.once('data', () => (firstAt = Date.now()));
    try {
      await executor.run(
        { args: ['sh', '-c', 'echo first; echo oops >&2; sleep 1; echo second'] },
        runOptions(fs.mounts, io),
      );
      const endAt = Date.now();
      assert.equal(io.out(), 'first\nsecond\n');
      assert.equal(io.err(), 'oops\n');
      assert.ok(endAt - firstAt >= 800, `first line arrived ${endAt - firstAt} ms before the end`);
    } finally {
      await fs.dispose();
    }
  });

  it('returns valid exit codes and rejects others with the command and last lines', async () => {
    assert.equal((await sh('exit 3', { process: { validExitCodes: [0, 3] } })).code, 3);
    await assert.rejects(sh('echo one; echo two >&2; exit 5'), (err: unknown) => {
      assert.ok(err instanceof ExecError);
      assert.equal(err.exitCode, 5);
      assert.equal(
        err.message,
        'process "sh -c echo one; echo two >&2; exit 5" did not complete successfully: exit code: 5',
      );
      assert.deepEqual([...err.lastLines].sort(), ['one', 'two']);
      assert.equal(err.kind, 'unknown'); // BuildKit reports failed processes as gRPC Unknown
      return true;
    });
    // init of a pid namespace cannot SIGKILL itself; a child killed by signal 9 exits the shell with 137
    await assert.rejects(
      sh('sh -c "kill -9 \\$\\$"; exit $?'),
      (err: unknown) => err instanceof ExecError && err.exitCode === 137,
    );
  });

  it('creates a missing cwd owned by the user', async () => {
    const r = await sh('pwd; touch f', { process: { cwd: '/work/deep/dir', user: 'nobody' } });
    assert.equal(r.out, '/work/deep/dir\n');
    // upper is gone after sh(); check ownership in a run that keeps its rootfs
    const fs = await overlayRootfs();
    try {
      await executor.run({ args: ['true'], cwd: '/a/b', user: 'nobody' }, runOptions(fs.mounts, capture()));
      const st = await stat(join(fs.upper, 'a', 'b'));
      assert.equal(st.uid, 65534);
      assert.equal(st.gid, 65534);
      assert.equal(st.mode & 0o777, 0o755);
    } finally {
      await fs.dispose();
    }
  });

  it('resolves users from the rootfs', async () => {
    assert.equal(
      (await sh('id', { process: { user: 'nobody' } })).out,
      'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n',
    );
    assert.equal((await sh('id -u; id -g', { process: { user: '65534:65534' } })).out, '65534\n65534\n');
    assert.equal((await sh('id -u; id -g', { process: { user: 'root' } })).out, '0\n0\n');
    assert.equal((await sh('id -u; id -g', { process: { user: '1234' } })).out, '1234\n0\n');
    await assert.rejects(sh('true', { process: { user: 'alice' } }), UserNotFoundError);
  });

  it('adds a default PATH only when the env has none', async () => {
    assert.match((await sh('env')).out, new RegExp(`^${defaultPathEnv}$`, 'm'));
    const r = await sh('echo $PATH; echo $FOO', { process: { env: ['PATH=/bin', 'FOO=bar'] } });
    assert.equal(r.out, '/bin\nbar\n');
  });

  it('writes hostname and extra hosts, and the host resolv.conf', async () => {
    const r = await sh('hostname; cat /etc/hosts; cat /etc/resolv.conf', {
      process: { hostname: 'box', extraHosts: [{ host: 'reg.local', ip: '10.1.2.3' }] },
    });
    const hostResolv = await readFile('/etc/resolv.conf', 'utf8');
    assert.equal(
      r.out,
      `box\n127.0.0.1\tlocalhost box\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.2.3\treg.local\n${hostResolv}`,
    );
    assert.equal((await sh('hostname')).out, 'buildkitsandbox\n');
  });

  it('applies ulimits', async () => {
    const r = await sh('ulimit -n; ulimit -Hn', {
      process: { ulimits: [{ name: 'nofile', soft: 512, hard: 1000 }] },
    });
    assert.equal(r.out, '512\n1000\n');
  });

  it('mounts tmpfs with a size, and leaves no mount stubs behind', async () => {
    const r = await sh('grep " /scratch/t " /proc/mounts; echo x > /scratch/t/f && echo wrote', {
      mounts: [{ kind: 'tmpfs', dest: '/scratch/t', size: 1 << 20 }],
      removeMountStubsRecursive: true,
    });
    assert.match(r.out, /^tmpfs \/scratch\/t tmpfs rw,nosuid,.*size=1024k/m);
    assert.match(r.out, /^wrote$/m);
    const fs = await overlayRootfs();
    try {
      await executor.run(
        { args: ['true'] },
        runOptions(fs.mounts, capture(), {
          mounts: [{ kind: 'tmpfs', dest: '/scratch/t' }],
          removeMountStubsRecursive: true,
        }),
      );
      await assert.rejects(stat(join(fs.upper, 'scratch')), { code: 'ENOENT' });
      await executor.run(
        { args: ['true'] },
        runOptions(fs.mounts, capture(), { mounts: [{ kind: 'tmpfs', dest: '/x/y' }] }),
      );
      assert.ok(
        (await stat(join(fs.upper, 'x'))).isDirectory(),
        'without recursive only the mount point goes',
      );
      await assert.rejects(stat(join(fs.upper, 'x', 'y')), { code: 'ENOENT' });
    } finally {
      await fs.dispose();
    }
  });

  it('binds host directories read-only or writable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-bind-'));
    try {
      await writeFile(join(dir, 'in'), 'hello\n');
      const r = await sh('cat /ro/in; touch /ro/no 2>/dev/null || echo ro-denied; echo out > /rw/out', {
        mounts: [
          { kind: 'bind', dest: '/ro', source: dir, readonly: true },
          { kind: 'bind', dest: '/rw', source: dir, readonly: false },
        ],
      });
      assert.equal(r.out, 'hello\nro-denied\n');
      assert.equal(await readFile(join(dir, 'out'), 'utf8'), 'out\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('mounts a snapshot at its selector, resolved inside the snapshot', async () => {
    const snap = await overlayRootfs();
    const native = await copiedRootfs();
    try {
      await mkdir(join(snap.upper, 'sub'));
      await writeFile(join(snap.upper, 'sub', 'file'), 'selected\n');
      await symlink('../../../../../etc', join(native.dir, 'escape'));
      const r = await sh(
        'cat /sel/file; touch /sel/new && echo rw; cat /esc/passwd | head -1; touch /esc/x 2>/dev/null || echo ro',
        {
          mounts: [
            { kind: 'snapshot', dest: '/sel', mounts: snap.mounts, selector: '/sub', readonly: false },
            {
              kind: 'snapshot',
              dest: '/esc',
              mounts: [{ type: 'bind', source: native.dir, options: ['rbind', 'rw'] }],
              selector: 'escape',
              readonly: true,
            },
          ],
        },
      );
      assert.equal(r.out, 'selected\nrw\nroot:x:0:0:root:/root:/bin/sh\nro\n');
      assert.ok((await stat(join(snap.upper, 'sub', 'new'))).isFile());
      assert.deepEqual(await mountsUnder(root), []);
    } finally {
      await snap.dispose();
      await native.dispose();
    }
  });

  it('mounts whole snapshots read-only or writable', async () => {
    const snap = await overlayRootfs();
    try {
      const r = await sh('ls /s/bin/busybox && touch /s/new 2>/dev/null || echo ro', {
        mounts: [{ kind: 'snapshot', dest: '/s', mounts: snap.mounts, readonly: true }],
      });
      assert.equal(r.out, '/s/bin/busybox\nro\n');
      await sh('touch /s/new', {
        mounts: [{ kind: 'snapshot', dest: '/s', mounts: snap.mounts, readonly: false }],
      });
      assert.ok((await stat(join(snap.upper, 'new'))).isFile());
    } finally {
      await snap.dispose();
    }
  });

  it('mounts secrets from a private tmpfs and leaves no trace of them', async () => {
    const fs = await overlayRootfs();
    const secret = 'very-secret-token-7f3a9';
    const io = capture();
    try {
      await executor.run(
        {
          args: [
            'sh',
            '-c',
            'stat -c "%a %u %g" /run/secrets/tok; cat /run/secrets/tok; echo; grep " /run/secrets/tok " /proc/mounts',
          ],
        },
        runOptions(fs.mounts, io, {
          mounts: [
            {
              kind: 'secret',
              dest: '/run/secrets/tok',
              data: Buffer.from(secret),
              uid: 0,
              gid: 0,
              mode: 0o400,
            },
          ],
          removeMountStubsRecursive: true,
        }),
      );
      const [modeLine, content, mountLine] = io.out().split('\n');
      assert.equal(modeLine, '400 0 0');
      assert.equal(content, secret);
      assert.match(mountLine ?? '', /^tmpfs \/run\/secrets\/tok tmpfs ro,/);
      assert.deepEqual(await filesContaining(fs.dir, secret), []);
      assert.deepEqual(await filesContaining(root, secret), []);
      await assert.rejects(stat(join(fs.upper, 'run')), { code: 'ENOENT' });
    } finally {
      await fs.dispose();
    }
  });

  it('gives network none only a loopback interface that is up', async () => {
    const none = await sh("awk 'NR>2 {print $1}' /proc/net/dev; ip link show lo", { network: 'none' });
    const [first, ...rest] = none.out.split('\n');
    assert.equal(first, 'lo:');
    assert.match(rest.join('\n'), /LOOPBACK,UP/);
    const host = await sh("awk 'NR>2 {print $1}' /proc/net/dev", { network: 'sandbox' });
    const hostIfaces = (await readFile('/proc/net/dev', 'utf8')).split('\n').slice(2).filter(Boolean).length;
    assert.equal(host.out.trim().split('\n').length, hostIfaces);
  });

  it('grants BuildKit default capabilities in sandbox mode and all in insecure mode', async () => {
    const sandbox = await sh(
      'grep CapEff /proc/self/status; cat /proc/kcore >/dev/null 2>&1 && echo kcore || echo masked',
    );
    assert.equal(sandbox.out, 'CapEff:\t00000000a80425fb\nmasked\n');
    const insecure = await sh('grep CapEff /proc/self/status', { security: 'insecure' });
    const own = /^CapBnd:\s*(\S+)$/m.exec(await readFile('/proc/self/status', 'utf8'))?.[1];
    assert.equal(insecure.out, `CapEff:\t${own}\n`);
  });

  it('keeps a read-only rootfs read-only, and removes its mount stubs', async () => {
    const fs = await overlayRootfs();
    const io = capture();
    try {
      await executor.run(
        { args: ['sh', '-c', 'touch /x 2>/dev/null || echo denied; touch /newdir/f && echo tmpfs-rw'] },
        runOptions(fs.mounts, io, { readonlyRootfs: true, mounts: [{ kind: 'tmpfs', dest: '/newdir' }] }),
      );
      assert.equal(io.out(), 'denied\ntmpfs-rw\n');
      await assert.rejects(stat(join(fs.upper, 'newdir')), { code: 'ENOENT' });
    } finally {
      await fs.dispose();
    }
  });

  it('binds an ssh agent socket with its owner and mode', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-ssh-'));
    const sock = join(dir, 'agent.sock');
    const server = createServer((c) => c.end('agent-hello\n'));
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const r = await sh('stat -c "%F %a %u %g" /run/buildkit/ssh_agent.0', {
        mounts: [
          {
            kind: 'ssh',
            dest: '/run/buildkit/ssh_agent.0',
            socketPath: sock,
            uid: 65534,
            gid: 65534,
            mode: 0o600,
          },
        ],
      });
      assert.equal(r.out, 'socket 600 65534 65534\n');
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs in a plain directory rootfs in place', async () => {
    const native = await copiedRootfs();
    try {
      const io = capture();
      await executor.run(
        { args: ['sh', '-c', 'echo hi > /made'] },
        runOptions([{ type: 'bind', source: native.dir, options: ['rbind', 'rw'] }], io),
      );
      assert.equal(await readFile(join(native.dir, 'made'), 'utf8'), 'hi\n');
      await assert.rejects(
        stat(join(native.dir, 'etc', 'hosts')),
        { code: 'ENOENT' },
        'the /etc/hosts stub is removed',
      );
    } finally {
      await native.dispose();
    }
  });

  it('prints the machine of the platform it runs', { timeout: 60_000 }, async () => {
    assert.equal((await sh('uname -m')).out, 'x86_64\n');
    const arm = await overlayRootfs('arm64');
    try {
      const io = capture();
      await executor.run(
        { args: ['uname', '-m'] },
        runOptions(arm.mounts, io, { platform: { os: 'linux', architecture: 'arm64' } }),
      );
      assert.equal(io.out(), 'aarch64\n');
    } finally {
      await arm.dispose();
    }
  });

  it('reports a process that cannot start, and a missing runtime', async () => {
    await assert.rejects(
      sh('', { process: { args: ['/no/such/binary'] } }),
      (err: unknown) => err instanceof ContainerStartError && /no such file/.test(err.message),
    );
    const broken = new RuncExecutor({ root: join(root, 'broken'), runtime: '/no/such/runc' });
    const fs = await overlayRootfs();
    try {
      await assert.rejects(
        broken.run({ args: ['true'] }, runOptions(fs.mounts, capture())),
        RuntimeUnavailableError,
      );
      assert.deepEqual(await mountsUnder(root), []);
    } finally {
      await fs.dispose();
    }
  });
});
