import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BenchUsageError, parseBenchArgs } from './index.js';

const defaults = { out: '/tmp/out.json', buildctl: '/usr/bin/buildctl' };

describe('parseBenchArgs', () => {
  it('defaults to five runs of every workload, kiln alone, in LLB form', () => {
    const o = parseBenchArgs([], {}, defaults);
    assert.equal(o.runs, 5);
    assert.deepEqual(o.only, []);
    assert.equal(o.form, 'llb');
    assert.equal(o.buildkitd, undefined);
    assert.equal(o.buildctl, '/usr/bin/buildctl');
  });

  it('takes BuildKit from the environment and filters workloads', () => {
    const o = parseBenchArgs(
      ['--quick', '--only', 'steps,context', '--only', 'push'],
      { BUILDKITD: '/bk/buildkitd', BUILDCTL: '/bk/buildctl' },
      defaults,
    );
    assert.equal(o.runs, 2);
    assert.equal(o.quick, true);
    assert.deepEqual(o.only, ['steps', 'context', 'push']);
    assert.equal(o.buildkitd, '/bk/buildkitd');
    assert.equal(o.buildctl, '/bk/buildctl');
  });

  it('passes node flags through to kilnd', () => {
    const o = parseBenchArgs(
      ['--kiln-node-flag=--max-semi-space-size=4', '--kiln-node-flag=--jitless'],
      {},
      defaults,
    );
    assert.deepEqual(o.kilnNodeFlags, ['--max-semi-space-size=4', '--jitless']);
  });

  it('refuses bad values, naming the flag', () => {
    for (const argv of [['--runs', '0'], ['--form', 'yaml'], ['--bogus'], ['--no-kiln']]) {
      assert.throws(
        () => parseBenchArgs(argv, {}, defaults),
        (e: unknown) => e instanceof BenchUsageError && e.code === 'KILN_BENCH_USAGE',
        argv.join(' '),
      );
    }
  });
});
