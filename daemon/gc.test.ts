import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { StorageManager } from '../solver/index.js';
import { GarbageCollector } from './gc.js';

/** Storage with nothing in it that counts how often the collector looked. */
function countingStorage(): { storage: StorageManager; usageCalls: () => number } {
  let calls = 0;
  const storage = {
    usage: async () => {
      calls++;
      return [];
    },
    prune: async function* () {},
  } as unknown as StorageManager;
  return { storage, usageCalls: () => calls };
}

describe('GarbageCollector scheduling', () => {
  it('waits the after-build delay, and joins the builds that finish meanwhile into one run', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kiln-gc-'));
    const { storage, usageCalls } = countingStorage();
    const gc = new GarbageCollector({
      storage,
      root,
      policies: [{ all: false, filters: [], keepDurationMs: 0, maxUsedSpace: { bytes: 1e9 } }],
      afterBuildDelayMs: 150,
    });
    try {
      gc.schedule();
      gc.schedule();
      await sleep(50);
      assert.equal(usageCalls(), 0, 'not right after a build');
      await sleep(250);
      assert.equal(usageCalls(), 1, 'one run for both builds');
    } finally {
      gc.stop();
      await rm(root, { recursive: true, force: true });
    }
  });
});
