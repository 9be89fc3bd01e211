import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidFileActionError, parseModeStr } from './index.js';

// Vectors with umask 0 from the BSD-setmode library BuildKit uses for `COPY --chmod` symbolic
// modes (tonistiigi/dchapes-mode mode_test.go): [from, to, mode string, from is a directory].
const vectors: [number, number, string, boolean?][] = [
  [0o777, 0o000, '='],
  [0o777, 0o777, '+'],
  [0o421, 0o421, '-'],
  [0o421, 0o1421, '+t'],
  [0o1421, 0o421, '-t'],
  [0o000, 0o400, 'u+r'],
  [0o000, 0o100, 'u+x'],
  [0o000, 0o000, 'u+X'],
  [0o001, 0o101, 'u+X'],
  [0o000, 0o100, 'u+X', true],
  [0o000, 0o4000, 'u+s'],
  [0o100, 0o110, 'g+X'],
  [0o000, 0o2000, 'g+s'],
  [0o000, 0o000, 'o+s'],
  [0o100, 0o101, 'o+X'],
  [0o000, 0o421, '0421'],
  [0o000, 0o7421, '07421'],
  [0o000, 0o111, '+x'],
  [0o010, 0o111, '+X'],
  [0o000, 0o111, '+X', true],
  [0o000, 0o6000, '+s'],
  [0o777, 0o333, '-r'],
  [0o777, 0o777, '-X'],
  [0o777, 0o777, '-X', true],
  [0o6777, 0o777, '-s'],
  [0o777, 0o677, 'u-x'],
  [0o4777, 0o777, 'u-s'],
  [0o000, 0o600, 'u=rw'],
  [0o777, 0o677, 'u=rw'],
  [0o777, 0o077, 'u='],
  [0o777, 0o666, '=rw'],
  [0o042, 0o442, 'u=g'],
  [0o742, 0o442, 'u=g'],
  [0o722, 0o022, 'u=g-w'],
  [0o772, 0o572, 'u=g-w'],
  [0o021, 0o121, 'u+o'],
  [0o021, 0o321, 'u+go'],
  [0o777, 0o764, 'a=r,ug=rw,u+x'],
  [0o000, 0o1624, 'o+r,g+w,a+t,g-s,u+og'],
  [0o2100, 0o1724, 'o+r,g+w,a+t,g-s,u+og'],
  [0o777, 0o644, '644'],
  [0o777, 0o755, 'go-w'],
  [0o000, 0o755, 'u=rwx,go=u-w'],
  [0o777, 0o700, 'go='],
  [0o670, 0o644, 'go=u-w'],
  [0o370, 0o311, 'go=u-w'],
];

describe('symbolic modes (modeStr)', () => {
  for (const [from, to, text, isDir] of vectors) {
    it(`${text} turns ${from.toString(8)}${isDir ? ' (dir)' : ''} into ${to.toString(8)}`, () => {
      assert.equal(
        parseModeStr(text)
          .apply(from, isDir ?? false)
          .toString(8),
        to.toString(8),
      );
    });
  }

  it('X counts only with + (BuildKit semantics, unlike GNU chmod a=rX)', () => {
    assert.equal(parseModeStr('a=rX').apply(0o750, true), 0o444);
    assert.equal(parseModeStr('a+rX').apply(0o700, true), 0o755);
    assert.equal(parseModeStr('a+rX').apply(0o600, false), 0o644);
    assert.equal(parseModeStr('a+rX').apply(0o700, false), 0o755);
  });

  it('rejects what chmod rejects', () => {
    for (const bad of ['', ',', 'q+r', '017777', '9', 'z', 'u', 'go', 'u+r,', 'u+rz', '0o7']) {
      assert.throws(() => parseModeStr(bad), InvalidFileActionError, bad);
    }
  });
});
