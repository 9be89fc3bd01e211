// Isolation and secrets on a real kilnd: what a RUN step can see of the host, the daemon and other
// builds; where secrets and registry credentials end up; the socket, TCP and entitlement rules.
// Figures for docs/reliability.md ("Isolation and secrets").
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { BuildFailedError, Client, type SolveStatus } from '../../client/index.js';
import { copy, image, marshal, scratch, type State } from '../../llb/index.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { freePort } from '../fixtures/free-port.js';

const amd64 = { os: 'linux', architecture: 'amd64' };

/** Every file under `dir` (gzip blobs decompressed) whose bytes contain one of `needles`. */
async function filesContaining(dir: string, needles: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    let bytes = await readFile(path).catch(() => Buffer.alloc(0));
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    if (needles.some((n) => bytes.includes(n))) found.push(path);
  }
  return found;
}

describe('isolation of build steps', () => {
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
    work = await mkdtemp(join(tmpdir(), 'kiln-isolation-'));
  });

  after(async () => {
    client?.close();
    await daemon?.dispose();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const buildTo = async (
    name: string,
    state: State,
    options: { allow?: ['network.host' | 'security.insecure'] } = {},
  ) => {
    const dest = join(work, name);
    await client.build({
      definition: marshal(state, { platform: amd64 }),
      outputs: [{ type: 'local', dest }],
      auth: false,
      ...(options.allow ? { allow: options.allow } : {}),
    });
    return dest;
  };

  it("gives a step neither the daemon's socket, the host's processes nor another build's files", async () => {
    const marker = `iso-${Date.now()}`;
    const other = busybox.run({ shell: `echo mine > /other-${marker}; sleep 4` }).root();
    const probe = busybox
      .run({
        shell: [
          'sleep 1',
          `find / -xdev -name 'other-${marker}' > /other-files`,
          `find / -xdev -type s > /sockets`,
          `(test -e ${daemon.socket} && echo present || echo absent) > /socket`,
          `(test -e ${daemon.root} && echo present || echo absent) > /root-dir`,
          `for p in /proc/[0-9]*; do echo "\${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)"; done > /processes`,
        ].join('; '),
      })
      .root();
    const files = (names: string[]) =>
      scratch().file(
        names.reduce((a, n) => a.copy(probe, `/${n}`, `/${n}`), copy(probe, '/socket', '/socket')),
      );
    const [, out] = await Promise.all([
      buildTo('other', scratch().file(copy(other, `/other-${marker}`, '/mine'))),
      buildTo('probe', files(['other-files', 'sockets', 'root-dir', 'processes'])),
    ]);
    const read = (name: string) => readFile(join(out, name), 'utf8');
    assert.equal(await read('other-files'), '');
    assert.equal(await read('sockets'), '');
    assert.equal(await read('socket'), 'absent\n');
    assert.equal(await read('root-dir'), 'absent\n');
    const processes = (await read('processes')).trim().split('\n');
    // Its own PID namespace: the shell (pid 1) and what it started, nothing of the host's.
    assert.ok(processes.length <= 4, processes.join('\n'));
    assert.ok(
      processes.every((p) => Number(p.split(' ')[0]) < 10),
      processes.join('\n'),
    );
    // (pid 1 is the probe's own shell, whose script names the daemon's paths.)
    const others = processes.filter((p) => !p.startsWith('1 '));
    assert.ok(!others.some((p) => /node|kilnd|runc|sleep 4/.test(p)), processes.join('\n'));
    console.log(`# a step sees ${processes.length} processes (its own), no sockets, not the daemon's root`);
  });

  it('serves its socket with mode 0660 and refuses a TCP listener without TLS', async () => {
    assert.equal((await stat(daemon.socket)).mode & 0o777, 0o660);
    await assert.rejects(
      startKilnd({ args: ['--addr', `tcp://127.0.0.1:${await freePort()}`] }),
      /TCP listeners need TLS/,
    );
  });

  it('refuses network.host and security.insecure unless both the daemon and the client allow them', async () => {
    const host = busybox.run({ shell: 'cat /proc/net/dev > /dev-list', network: 'host' }).root();
    const insecure = busybox
      .run({ shell: 'grep CapEff /proc/self/status > /caps', security: 'insecure' })
      .root();
    const cases = [
      { name: 'network.host', state: scratch().file(copy(host, '/dev-list', '/out')) },
      { name: 'security.insecure', state: scratch().file(copy(insecure, '/caps', '/out')) },
    ] as const;
    const refused = async (build: Promise<unknown>, entitlement: string) =>
      assert.rejects(build, (err: unknown) => {
        assert.ok(err instanceof BuildFailedError);
        assert.match(err.message, new RegExp(entitlement.replace('.', '\\.')));
        return true;
      });
    for (const { name, state } of cases) {
      await refused(buildTo(`${name}-none`, state), name);
      await refused(buildTo(`${name}-client`, state, { allow: [name] }), name);
    }
    const allowing = await startKilnd({
      args: [
        '--allow-insecure-entitlement',
        'network.host',
        '--allow-insecure-entitlement',
        'security.insecure',
      ],
    });
    const trusted = new Client({ address: allowing.address });
    try {
      for (const { name, state } of cases) {
        const definition = marshal(state, { platform: amd64 });
        await refused(trusted.build({ definition, auth: false }), name);
        const dest = join(work, `${name}-both`);
        await trusted.build({ definition, allow: [name], outputs: [{ type: 'local', dest }], auth: false });
        const out = await readFile(join(dest, 'out'), 'utf8');
        if (name === 'network.host') {
          const names = (text: string) =>
            text
              .split('\n')
              .slice(2)
              .map((l) => l.split(':')[0]!.trim())
              .filter(Boolean)
              .sort();
          assert.deepEqual(names(out), names(await readFile('/proc/net/dev', 'utf8')));
        } else {
          const own = /CapEff:\s+(\w+)/.exec(await readFile('/proc/self/status', 'utf8'))![1];
          assert.equal(out.trim(), `CapEff:\t${own}`);
        }
      }
    } finally {
      trusted.close();
      await allowing.dispose();
    }
  });
});

describe('secrets and registry credentials', () => {
  let registry: TestRegistry;
  let daemon: KilndProcess;
  let client: Client;
  let work: string;

  before(async () => {
    registry = await startRegistry({ auth: 'basic' });
    await pushBusyboxIndex(registry);
    // Debug logging: the most a daemon ever writes about a build.
    daemon = await startKilnd({ args: ['--debug'] });
    client = new Client({ address: daemon.address });
    work = await mkdtemp(join(tmpdir(), 'kiln-secrets-'));
  });

  after(async () => {
    client?.close();
    await daemon?.dispose();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('keeps --secret values and registry credentials out of every file, record and log', async () => {
    const secret = `kiln-secret-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const basic = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
    const needles = [secret, registry.password!, basic];
    const context = join(work, 'context');
    await mkdir(context, { recursive: true });
    await writeFile(
      join(context, 'Dockerfile'),
      `FROM ${registry.host}/library/busybox:latest\n` +
        'RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /length && sha256sum /run/secrets/token > /hash\n' +
        'RUN --mount=type=secret,id=token,target=/etc/token cp /etc/token /etc/token.copy 2>/dev/null; rm -f /etc/token.copy; echo ok\n',
    );
    const progress: SolveStatus[] = [];
    const build = client.build({
      frontend: 'dockerfile.v0',
      locals: { context, dockerfile: context },
      secrets: { token: { value: secret } },
      auth: { config: { auths: { [registry.host]: { auth: basic } } } },
      outputs: [
        { type: 'image', attrs: { name: `${registry.host}/secret/image:latest`, push: 'true' } },
        { type: 'local', dest: join(work, 'out') },
      ],
    });
    for await (const status of build.progress) progress.push(status);
    await build;
    assert.equal(await readFile(join(work, 'out', 'length'), 'utf8'), `${secret.length}\n`);

    const leaks = await filesContaining(daemon.root, needles);
    assert.deepEqual(leaks, [], `secret bytes in ${leaks.join(', ')}`);
    assert.deepEqual(await filesContaining(join(work, 'out'), needles), []);
    const history: string[] = [];
    for await (const event of client.history({ earlyExit: true }))
      history.push(JSON.stringify(event, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
    const texts = {
      'daemon log': daemon.logs(),
      progress: JSON.stringify(progress, (_, v: unknown) =>
        v instanceof Uint8Array ? Buffer.from(v).toString() : v,
      ),
      history: history.join('\n'),
    };
    for (const [where, text] of Object.entries(texts))
      for (const needle of needles) assert.ok(!text.includes(needle), `a secret appears in the ${where}`);
    const files = (await readdir(daemon.root, { recursive: true })).length;
    console.log(
      `# secret and credentials: 0 of ${files} files under the daemon root, 0 in its debug log, progress or history`,
    );
  });
});
