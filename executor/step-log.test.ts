import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StepLog } from './index.js';

describe('StepLog', () => {
  it('keeps everything below the limit', () => {
    const log = new StepLog({ limit: 100, tail: 20 });
    log.write('one\n');
    log.write(Buffer.from('two\nthree\n'));
    assert.equal(log.text(), 'one\ntwo\nthree\n');
    assert.equal(log.clipped, 0);
    assert.deepEqual(log.lastLines(2), ['two', 'three']);
  });

  it('keeps the head and the tail and says how much was clipped', () => {
    const log = new StepLog({ limit: 10, tail: 12 });
    log.write('0123456789'); // head
    for (let i = 0; i < 100; i++) log.write(`line ${i}\n`);
    log.write('fatal\n');
    const total = 10 + 10 * 7 + 90 * 8 + 6; // "line 0\n".."line 9\n" are 7 bytes, the rest 8
    assert.equal(log.bytes, total);
    assert.equal(log.clipped, total - 10 - 12);
    assert.equal(log.text(), `0123456789\n[… ${total - 22} bytes clipped …]\nne 99\nfatal\n`);
    assert.deepEqual(log.lastLines(5), ['fatal'], 'the partial first line of the tail is dropped');
    assert.deepEqual(log.lastLines(0), []);
  });

  it('keeps the tail across many small writes and one huge one', () => {
    const log = new StepLog({ limit: 4, tail: 8 });
    log.write('x'.repeat(1_000_000));
    log.write('\nend\n');
    assert.equal(log.text(), `xxxx\n[… ${1_000_005 - 12} bytes clipped …]\nxxx\nend\n`);
    assert.deepEqual(log.lastLines(3), ['end']);
  });

  it('accepts writes through its writable', async () => {
    const log = new StepLog();
    const w = log.writable();
    await new Promise<void>((resolve) => w.write('hello\n', () => resolve()));
    assert.equal(log.text(), 'hello\n');
  });
});
