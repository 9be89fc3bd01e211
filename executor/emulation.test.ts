import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatPlatform } from '../oci/index.js';
import {
  PlatformUnsupportedError,
  amd64Level,
  checkPlatform,
  detectEmulators,
  detectPlatforms,
  handlerMatches,
  probeArches,
  readBinfmtHandlers,
} from './index.js';

const realBinfmt = '/proc/sys/fs/binfmt_misc';
const amd64Host = { os: 'linux', architecture: 'amd64' };

function runFile(file: string, args: string[] = []): Promise<number> {
  return new Promise((resolve) =>
    execFile(file, args, (err) => resolve(err ? ((err.code as number) ?? -1) : 0)),
  );
}

/** A handler file as the kernel prints it, for `qemu` with magic/mask of QEMU's registration. */
function handlerFile(interpreter: string, magic: string, mask: string, enabled = true): string {
  return `${enabled ? 'enabled' : 'disabled'}\ninterpreter ${interpreter}\nflags: F\noffset 0\nmagic ${magic}\nmask ${mask}\n`;
}

const aarch64Magic = '7f454c460201010000000000000000000200b700';
const riscv64Magic = '7f454c460201010000000000000000000200f300';
const elfMask = 'ffffffffffffff00fffffffffffffffffeffffff';

describe('emulation', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-binfmt-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('ships probe programs that exit 0 on every architecture', async () => {
    let tried = 0;
    for (const arch of probeArches) {
      const qemu = `/usr/bin/qemu-${arch.qemu}-static`;
      if (!existsSync(qemu)) continue;
      const file = join(work, `probe-${arch.architecture}`);
      await writeFile(file, arch.binary);
      await chmod(file, 0o755);
      assert.equal(await runFile(qemu, [file]), 0, `${arch.architecture} probe under ${qemu}`);
      assert.ok(arch.binary.length < 200);
      tried++;
    }
    const native = join(work, 'probe-amd64');
    if (process.arch === 'x64') assert.equal(await runFile(native), 0, 'the amd64 probe runs natively');
    assert.ok(tried > 0, 'no qemu-*-static to check the probes with');
  });

  it('matches handlers by magic and mask', async () => {
    const dir = await mkdtemp(join(work, 'fake-'));
    await writeFile(join(dir, 'status'), 'enabled\n');
    await writeFile(
      join(dir, 'qemu-aarch64'),
      handlerFile('/usr/bin/qemu-aarch64-static', aarch64Magic, elfMask),
    );
    const [h] = await readBinfmtHandlers(dir);
    assert.ok(h);
    assert.equal(h.flags, 'F');
    const arm64 = probeArches.find((a) => a.architecture === 'arm64')!;
    const riscv = probeArches.find((a) => a.architecture === 'riscv64')!;
    assert.ok(handlerMatches(h, arm64.binary));
    assert.ok(!handlerMatches(h, riscv.binary));
  });

  it('lists a foreign platform only with a registered handler that works', async () => {
    // Without a handler in the (fake) directory arm64 is not even probed, whatever the kernel has.
    const empty = await mkdtemp(join(work, 'empty-'));
    const only = (await detectPlatforms({ binfmtDir: empty, host: amd64Host, workDir: work })).map(
      formatPlatform,
    );
    assert.equal(only[0], 'linux/amd64');
    assert.ok(!only.includes('linux/arm64'));

    const withArm = await mkdtemp(join(work, 'arm-'));
    await writeFile(join(withArm, 'status'), 'enabled\n');
    await writeFile(
      join(withArm, 'qemu-aarch64'),
      handlerFile('/usr/bin/qemu-aarch64-static', aarch64Magic, elfMask),
    );
    await writeFile(
      join(withArm, 'qemu-riscv64'),
      handlerFile('/usr/bin/qemu-riscv64-static', riscv64Magic, elfMask),
    );
    // The real chroot probe: arm64 is listed exactly when the kernel really runs it.
    const listed = (await detectPlatforms({ binfmtDir: withArm, host: amd64Host, workDir: work })).map(
      formatPlatform,
    );
    const realHasArm = (await readBinfmtHandlers(realBinfmt)).some(
      (h) => h.enabled && Buffer.from(h.magic).toString('hex') === aarch64Magic,
    );
    assert.equal(listed.includes('linux/arm64'), realHasArm);

    // A registered handler whose interpreter does not run (as without the F flag inside a chroot).
    const brokenRiscv = async (a: { architecture: string }) => a.architecture !== 'riscv64';
    const emulators = await detectEmulators({ binfmtDir: withArm, host: amd64Host, probe: brokenRiscv });
    assert.deepEqual(
      emulators.find((e) => e.architecture === 'riscv64'),
      { architecture: 'riscv64', qemu: 'riscv64', handler: 'qemu-riscv64', works: false },
    );
    const platforms = (
      await detectPlatforms({ host: amd64Host, emulators, cpuinfoPath: '/nonexistent' })
    ).map(formatPlatform);
    assert.deepEqual(platforms, ['linux/amd64', 'linux/arm64', 'linux/386']);

    const disabled = await mkdtemp(join(work, 'disabled-'));
    await writeFile(join(disabled, 'qemu-aarch64'), handlerFile('/x', aarch64Magic, elfMask, false));
    const probed: string[] = [];
    await detectPlatforms({
      binfmtDir: disabled,
      host: amd64Host,
      probe: async (a) => (probed.push(a.architecture), true),
    });
    assert.deepEqual(probed, ['386'], 'disabled handlers are not probed; 386 is probed as amd64-native');
  });

  it('detects the real host: amd64 levels first, then working emulators', async () => {
    const platforms = (await detectPlatforms({ workDir: work })).map(formatPlatform);
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
    if (process.arch === 'x64') {
      const level = amd64Level(cpuinfo);
      const expected = [
        'linux/amd64',
        ...Array.from({ length: level - 1 }, (_, i) => `linux/amd64/v${i + 2}`),
      ];
      assert.deepEqual(platforms.slice(0, level), expected);
    }
    // Every architecture with an enabled fix-binary handler in the kernel must be listed.
    const real = (await readBinfmtHandlers(realBinfmt)).filter((h) => h.enabled && h.flags.includes('F'));
    for (const arch of probeArches) {
      if (arch.architecture === 'amd64' || !real.some((h) => handlerMatches(h, arch.binary))) continue;
      assert.ok(
        platforms.some((p) => p.split('/')[1] === arch.architecture),
        `${arch.architecture} missing: ${platforms.join(' ')}`,
      );
    }
    assert.ok(platforms.includes('linux/arm64'), platforms.join(' '));
  });

  it('reads the amd64 micro-architecture level from cpu flags', () => {
    const v2 = 'cx16 lahf_lm popcnt pni sse4_1 sse4_2 ssse3';
    const v3 = `${v2} avx avx2 bmi1 bmi2 f16c fma abm movbe xsave`;
    assert.equal(amd64Level('flags\t\t: fpu sse sse2\n'), 1);
    assert.equal(amd64Level(`flags\t\t: ${v2}\n`), 2);
    assert.equal(amd64Level(`flags\t\t: ${v3}\n`), 3);
    assert.equal(amd64Level(`flags\t\t: ${v3} avx512f avx512bw avx512cd avx512dq avx512vl\n`), 4);
    assert.equal(amd64Level(`flags\t\t: ${v2} avx512f avx512bw avx512cd avx512dq avx512vl\n`), 2);
  });

  it('explains how to get a missing platform working', () => {
    const supported = [
      amd64Host,
      { os: 'linux', architecture: 'amd64', variant: 'v2' },
      { os: 'linux', architecture: 'arm64' },
    ];
    checkPlatform({ os: 'linux', architecture: 'arm64' }, supported);
    checkPlatform({ os: 'linux', architecture: 'aarch64' }, supported);
    checkPlatform({ os: 'linux', architecture: 'amd64', variant: 'v2' }, supported);
    assert.throws(
      () => checkPlatform({ os: 'linux', architecture: 'riscv64' }, supported),
      (e: unknown) =>
        e instanceof PlatformUnsupportedError &&
        e.kind === 'failed-precondition' &&
        e.message.startsWith(
          'no working QEMU handler for linux/riscv64: install qemu-user-static and register qemu-riscv64',
        ),
    );
    assert.throws(
      () =>
        checkPlatform({ os: 'linux', architecture: 'riscv64' }, supported, [
          { architecture: 'riscv64', qemu: 'riscv64', handler: 'qemu-riscv64', works: false },
        ]),
      /re-register qemu-riscv64 with the F \(fix-binary\) flag/,
    );
    assert.throws(
      () => checkPlatform({ os: 'linux', architecture: 'amd64', variant: 'v4' }, supported),
      /host CPU does not support/,
    );
  });
});
