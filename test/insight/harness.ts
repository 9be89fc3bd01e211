import { request } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildctl, type BuildctlResult } from '../fixtures/buildctl.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { startKilnd, type KilndProcess } from '../fixtures/kilnd.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { freePort } from '../fixtures/free-port.js';

/** A registry with busybox, a kilnd serving the build view on a loopback port, and a scratch directory. */
export interface InsightEnvironment {
  readonly registry: TestRegistry;
  /** The current kilnd (a new process after `restart()`). */
  readonly daemon: KilndProcess;
  /** `HOST/library/busybox:latest` */
  readonly busybox: string;
  /** `http://127.0.0.1:PORT` of the build view. */
  readonly url: string;
  readonly work: string;
  /** Writes files (path → content) under `work/dir`, creating directories. */
  writeFiles(dir: string, files: Readonly<Record<string, string>>): Promise<string>;
  /** Builds the Dockerfile in `dir` (also the context) with the real buildctl. */
  dockerBuild(dir: string, args?: readonly string[]): Promise<BuildctlResult>;
  /** Stops kilnd and starts it again on the same root and debug port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** GET with an explicit Host header (fetch does not let a caller set one). */
export function rawGet(
  url: string,
  options: { host?: string; method?: string } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', ...(options.host ? { headers: { host: options.host } } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function startInsightEnvironment(): Promise<InsightEnvironment> {
  const work = await mkdtemp(join(tmpdir(), 'kiln-insight-'));
  const registry = await startRegistry({ auth: 'none' });
  let daemon: KilndProcess | undefined;
  try {
    const busybox = (await pushBusyboxIndex(registry)).ref;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const start = async (root?: string): Promise<KilndProcess> => {
      const started = await startKilnd({
        ...(root ? { root } : {}),
        args: ['--debugaddr', `127.0.0.1:${port}`],
      });
      // The socket appears before the debug server listens.
      for (let i = 0; ; i++) {
        const ok = await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return started;
        if (i > 200) {
          await started.dispose();
          throw new Error(`build view did not come up:\n${started.logs()}`);
        }
        await sleep(25);
      }
    };
    daemon = await start();
    const restarts: KilndProcess[] = [];
    let current = daemon;
    return {
      registry,
      get daemon() {
        return current;
      },
      busybox,
      url,
      work,
      async writeFiles(dir, files) {
        const root = join(work, dir);
        await mkdir(root, { recursive: true });
        for (const [path, content] of Object.entries(files)) {
          await mkdir(dirname(join(root, path)), { recursive: true });
          await writeFile(join(root, path), content);
        }
        return root;
      },
      dockerBuild(dir, args = []) {
        return buildctl(current.address, [
          'build',
          '--frontend',
          'dockerfile.v0',
          '--local',
          `context=${dir}`,
          '--local',
          `dockerfile=${dir}`,
          ...args,
        ]);
      },
      async restart() {
        await current.stop();
        current = await start(current.root);
        restarts.push(current);
      },
      async stop() {
        for (const d of restarts) await d.dispose();
        await daemon!.dispose();
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

/** The ref of the most recent build, as the build view lists it. */
export async function latestRef(env: InsightEnvironment): Promise<string> {
  const list = (await (await fetch(`${env.url}/api/builds`)).json()) as Array<{ ref: string }>;
  if (!list[0]) throw new Error('no builds listed');
  return list[0].ref;
}
