import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildctl } from '../fixtures/buildctl.js';

const run = promisify(execFile);

/** BuildKit's source tree and where its Dockerfile frontend binary is kept once built. */
const source = process.env.BUILDKIT_SRC ?? '/tmp/bk/src';
const binary = join(source, '..', 'dockerfile-frontend');
const goRoot = '/usr/lib/go-1.19/bin';

/** Whether BuildKit's Dockerfile frontend can be had here (built already, or buildable). */
export function buildkitFrontendAvailable(): boolean {
  return existsSync(binary) || (existsSync(join(source, 'vendor')) && existsSync(join(goRoot, 'go')));
}

/**
 * BuildKit v0.11.6's own Dockerfile frontend (a Go program speaking LLBBridge through BuildKit's
 * grpcclient over its stdio): built once from the source tree with the vendored modules (about
 * three minutes), then kept beside it.
 */
export async function buildkitFrontendBinary(): Promise<string> {
  if (existsSync(binary)) return binary;
  await run(join(goRoot, 'go'), ['build', '-o', binary, './frontend/dockerfile/cmd/dockerfile-frontend'], {
    cwd: source,
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=vendor', PATH: `${goRoot}:${process.env.PATH}` },
    maxBuffer: 16 << 20,
  });
  return binary;
}

/**
 * Packages BuildKit's Dockerfile frontend as BuildKit's release image is made (the binary on
 * scratch, the same labels) through kilnd, and pushes it as `name`.
 */
export async function pushBuildkitFrontendImage(opts: {
  address: string;
  name: string;
  work: string;
}): Promise<void> {
  const context = join(opts.work, 'buildkit-frontend');
  await mkdir(context, { recursive: true });
  await copyFile(await buildkitFrontendBinary(), join(context, 'dockerfile-frontend'));
  await writeFile(
    join(context, 'Dockerfile'),
    [
      'FROM scratch',
      'COPY dockerfile-frontend /bin/dockerfile-frontend',
      'LABEL moby.buildkit.frontend.network.none="true"',
      'LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"',
      'ENTRYPOINT ["/bin/dockerfile-frontend"]',
      '',
    ].join('\n'),
  );
  const r = await buildctl(opts.address, [
    'build',
    '--frontend',
    'dockerfile.v0',
    '--local',
    `context=${context}`,
    '--local',
    `dockerfile=${context}`,
    '--output',
    `type=image,name=${opts.name},push=true`,
  ]);
  if (r.code !== 0) throw new Error(`building ${opts.name} failed:\n${r.stderr}`);
}
