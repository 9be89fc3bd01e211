import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type SpecInput, InvalidProcessError, buildSpec, defaultCapabilities } from './index.js';

const base: SpecInput = {
  id: 'abc',
  process: { args: ['true'] },
  user: { uid: 0, gid: 0, additionalGids: [0] },
  hostname: 'buildkitsandbox',
  rootPath: '/r',
  readonlyRootfs: false,
  resolvConf: '/s/resolv.conf',
  hosts: '/s/hosts',
  mounts: [],
  network: 'sandbox',
  security: 'sandbox',
  insecureCapabilities: ['CAP_SYS_ADMIN', 'CAP_CHOWN'],
  insecureDevices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }],
  noNewPrivileges: true,
};

describe('buildSpec', () => {
  it('sandboxes by default', () => {
    const s = buildSpec(base);
    assert.deepEqual(s.process.capabilities.effective, defaultCapabilities);
    assert.deepEqual(s.process.capabilities.ambient, []);
    assert.ok(s.linux.maskedPaths.includes('/proc/kcore'));
    assert.ok(s.linux.readonlyPaths.includes('/proc/sys'));
    assert.deepEqual(s.linux.resources.devices, [{ allow: false, access: 'rwm' }]);
    assert.deepEqual(
      s.linux.namespaces.map((n) => n.type),
      ['pid', 'ipc', 'uts', 'mount'],
    );
    assert.ok(s.mounts.find((m) => m.destination === '/sys')?.options.includes('ro'));
    assert.equal(
      s.mounts.some((m) => m.destination === '/run'),
      false,
    );
    assert.equal(s.process.rlimits, undefined);
    assert.equal(s.linux.cgroupsPath, '/kiln/abc');
  });

  it('grants everything in insecure mode', () => {
    const s = buildSpec({ ...base, security: 'insecure', network: 'none' });
    assert.deepEqual(s.process.capabilities.bounding, ['CAP_SYS_ADMIN', 'CAP_CHOWN']);
    assert.deepEqual(s.process.capabilities.ambient, ['CAP_SYS_ADMIN', 'CAP_CHOWN']);
    assert.deepEqual(s.linux.maskedPaths, []);
    assert.deepEqual(s.linux.readonlyPaths, []);
    assert.equal(s.linux.devices.length, 1);
    assert.equal(s.mounts.find((m) => m.destination === '/sys')?.options.includes('ro'), false);
    assert.deepEqual(s.linux.namespaces.at(-1), { type: 'network' });
  });

  it('lets a step mount replace a default mount at the same destination', () => {
    const s = buildSpec({
      ...base,
      mounts: [{ destination: '/etc/hosts', type: 'bind', source: '/mine', options: ['rbind'] }],
    });
    const hosts = s.mounts.filter((m) => m.destination === '/etc/hosts');
    assert.deepEqual(
      hosts.map((m) => m.source),
      ['/mine'],
    );
  });

  it('maps ulimits and cgroup parents', () => {
    const s = buildSpec({
      ...base,
      process: {
        args: ['true'],
        ulimits: [{ name: 'nofile', soft: 10, hard: -1 }],
        cgroupParent: 'system.slice:kiln:',
      },
    });
    assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 10n, hard: (1n << 64n) - 1n }]);
    assert.equal(s.linux.cgroupsPath, 'system.slice:kiln:abc');
    assert.equal(
      buildSpec({ ...base, process: { args: ['x'], cgroupParent: 'parent' } }).linux.cgroupsPath,
      '/parent/kiln/abc',
    );
    assert.throws(
      () => buildSpec({ ...base, process: { args: ['x'], ulimits: [{ name: 'bogus', soft: 1, hard: 1 }] } }),
      InvalidProcessError,
    );
    assert.throws(() => buildSpec({ ...base, process: { args: [] } }), InvalidProcessError);
  });
});
