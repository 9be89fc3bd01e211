import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushBusyboxIndex, type PushedBusybox } from '../../test/fixtures/busybox-image.js';
import { startRegistry, type TestRegistry } from '../../test/fixtures/registry.js';
import { startTestDaemon, type TestDaemon, type TestDaemonKind } from './daemon.js';

/** A daemon, a registry holding the multi-arch busybox image, and a scratch directory. */
export interface TestEnvironment {
  readonly daemon: TestDaemon;
  readonly registry: TestRegistry;
  readonly busybox: PushedBusybox;
  readonly dir: string;
  /** Writes `files` under a new directory in `dir` and returns its path. */
  context(name: string, files: Record<string, string>): Promise<string>;
  dispose(): Promise<void>;
}

export async function startEnvironment(kind: TestDaemonKind): Promise<TestEnvironment> {
  const dir = await mkdtemp(join(tmpdir(), 'kilnctl-test-'));
  const registry = await startRegistry({ auth: 'none' });
  let daemon: TestDaemon | undefined;
  try {
    const busybox = await pushBusyboxIndex(registry);
    daemon = await startTestDaemon(kind);
    const d = daemon;
    return {
      daemon: d,
      registry,
      busybox,
      dir,
      async context(name, files) {
        const root = join(dir, name);
        for (const [path, content] of Object.entries(files)) {
          await mkdir(join(root, path, '..'), { recursive: true });
          await writeFile(join(root, path), content);
        }
        return root;
      },
      async dispose() {
        await d.stop();
        await registry.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await daemon?.stop();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
