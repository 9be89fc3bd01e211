import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import type { FileStat } from './fs-stat.js';
import { applyXattrs } from './xattrs.js';

function entry(path: string, xattrs: Record<string, string>): { stat: FileStat } {
  return {
    stat: {
      path,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      modTime: 0n,
      linkname: '',
      devmajor: 0,
      devminor: 0,
      xattrs: Object.fromEntries(Object.entries(xattrs).map(([k, v]) => [k, Buffer.from(v)])),
    },
  };
}

describe('received xattrs', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-xattrs-'));
    await writeFile(join(dir, 'a'), 'a');
    await writeFile(join(dir, 'reused'), 'r');
    await symlink('a', join(dir, 'link'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("sets what Linux takes, skips what it refuses and overlayfs's own, leaves reused files alone", () => {
    applyXattrs(
      dir,
      [
        // A macOS client's names have no Linux namespace; user.* is refused on a symbolic link.
        entry('a', { 'user.one': '1', 'com.apple.provenance': 'x', 'trusted.overlay.opaque': 'y' }),
        entry('link', { 'user.on-link': '1' }),
        entry('reused', { 'user.two': '2' }),
      ],
      new Set(['reused']),
    );
    assert.equal(getAttributeSync(join(dir, 'a'), 'user.one')?.toString(), '1');
    assert.deepEqual(listAttributesSync(join(dir, 'a')), ['user.one']);
    assert.deepEqual(listAttributesSync(join(dir, 'link')), []);
    assert.deepEqual(listAttributesSync(join(dir, 'reused')), []);
  });
});
