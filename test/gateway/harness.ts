import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildctl, type BuildctlResult } from '../fixtures/buildctl.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { buildFrontendImage } from './frontend-image.js';
import { pushNodeImage } from './node-image.js';

/** A registry with busybox and the Node base image, a kilnd, and a scratch directory. */
export interface GatewayEnvironment {
  readonly registry: TestRegistry;
  readonly daemon: KilndProcess;
  readonly busybox: string;
  readonly nodeImage: string;
  readonly work: string;
  /**
   * Builds and pushes `<registry>/<name>`: the Dockerfile in `dockerfileDir` on a context holding
   * the modules `entry` (relative to `distRoot`, default dist-NAME) loads.
   */
  frontendImage(opts: {
    name: string;
    entry: string;
    dockerfileDir: string;
    distRoot?: string;
  }): Promise<string>;
  /** The real buildctl against the daemon. */
  buildctl(args: readonly string[]): Promise<BuildctlResult>;
  stop(): Promise<void>;
}

/** The compiled tree the tests run from (dist-NAME). */
export const distRoot = new URL('../../', import.meta.url).pathname;

export async function startGatewayEnvironment(): Promise<GatewayEnvironment> {
  const work = await mkdtemp(join(tmpdir(), 'kiln-gateway-'));
  const registry = await startRegistry({ auth: 'none' });
  let daemon: KilndProcess | undefined;
  try {
    const [busybox, nodeImage] = await Promise.all([
      pushBusyboxIndex(registry).then((p) => p.ref),
      pushNodeImage(registry),
    ]);
    daemon = await startKilnd();
    const d = daemon;
    return {
      registry,
      daemon: d,
      busybox,
      nodeImage,
      work,
      frontendImage: async (opts) => {
        const ref = `${registry.host}/${opts.name}`;
        await buildFrontendImage({
          address: d.address,
          nodeImage,
          distRoot: opts.distRoot ?? distRoot,
          entry: opts.entry,
          dockerfileDir: opts.dockerfileDir,
          name: ref,
          work,
        });
        return ref;
      },
      buildctl: (args) => buildctl(d.address, args),
      stop: async () => {
        await d.dispose();
        await registry.stop();
        await rm(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await daemon?.dispose();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}
