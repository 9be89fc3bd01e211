/**
 * A frontend image's entrypoint for the gateway tests, behaving as `--opt mode=…` says:
 * `report` (default) returns a file describing what the frontend saw, `crash` exits without
 * returning, `hang` never returns, `invalid-llb` solves garbage, `bad-ref` returns a ref it never
 * got, `exec` and `exec-shared` run processes in gateway containers, `fail` throws an error with
 * Dockerfile lines.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { runFrontend, type FrontendClient, type GatewayResult } from '../../frontend/index.js';
import { image, marshal, mkfile, scratch } from '../../llb/index.js';

const mode = Object.entries(process.env)
  .filter(([k]) => k.startsWith('BUILDKIT_FRONTEND_OPT_'))
  .map(([, v]) => v ?? '')
  .find((v) => v.startsWith('mode='))
  ?.slice(5);

if (mode === 'crash') {
  process.stderr.write('test frontend: about to crash\nboom: something went badly wrong\n');
  process.exit(3);
}

/** A one-file result. */
async function fileResult(client: FrontendClient, name: string, content: string): Promise<GatewayResult> {
  const state = scratch().file(mkfile(`/${name}`, 0o644, content));
  const result = await client.solve({ definition: marshal(state, { caps: client.llbCaps }) });
  return { ...(result.ref ? { ref: result.ref } : {}), metadata: new Map() };
}

async function report(client: FrontendClient): Promise<GatewayResult> {
  let tmpWritable = true;
  try {
    writeFileSync('/tmp/probe', 'x');
  } catch {
    tmpWritable = false;
  }
  let rootWritable = true;
  try {
    writeFileSync('/probe', 'x');
  } catch {
    rootWritable = false;
  }
  const metadata = '/run/config/buildkit/metadata/frontend.bin';
  const info = {
    opts: client.frontendOpt,
    sessionId: client.sessionId,
    platforms: client.workerPlatforms,
    product: process.env.BUILDKIT_EXPORTEDPRODUCT,
    caps: [...client.caps].sort(),
    inputs: [...client.inputs().keys()].sort(),
    metadataBytes: existsSync(metadata) ? readFileSync(metadata).length : -1,
    tmpWritable,
    rootWritable,
    cwd: process.cwd(),
  };
  return fileResult(client, 'report.json', JSON.stringify(info));
}

/** Output sinks that collect text. */
function collector() {
  const text: Record<string, string> = {};
  const sink = (key: string) =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        text[key] = (text[key] ?? '') + chunk.toString('utf8');
        callback();
      },
    });
  return { text, sink };
}

/** One process with stdin, stdout, stderr and an exit code; then release (which reports it). */
async function exec(client: FrontendClient): Promise<GatewayResult> {
  const base = await client.solve({
    definition: marshal(image(client.frontendOpt.busybox!), { caps: client.llbCaps }),
  });
  const container = await client.newContainer({ mounts: [{ dest: '/', ref: base.ref! }], network: 'none' });
  const { text, sink } = collector();
  const run = await container.run({
    args: ['/bin/sh', '-c', 'tr a-z A-Z; echo to-stderr >&2; exit 3'],
    stdin: 'hello from stdin\n',
    stdout: sink('out'),
    stderr: sink('err'),
  });
  const releaseError = await container.release().then(
    () => '',
    (err: Error) => err.message,
  );
  return fileResult(client, 'exec.json', JSON.stringify({ exitCode: run.exitCode, ...text, releaseError }));
}

/** Processes after one another see each other's writes to the container's mounts (kiln only). */
async function execShared(client: FrontendClient): Promise<GatewayResult> {
  const base = await client.solve({
    definition: marshal(image(client.frontendOpt.busybox!), { caps: client.llbCaps }),
  });
  const container = await client.newContainer({
    mounts: [{ dest: '/', ref: base.ref! }, { dest: '/scratch' }, { dest: '/fresh', type: 'tmpfs' }],
    network: 'none',
  });
  const { text, sink } = collector();
  const first = await container.run({
    args: ['/bin/sh', '-c', 'echo kept > /scratch/f; echo rooted > /rooted'],
  });
  const second = await container.run({
    args: ['/bin/sh', '-c', 'cat /scratch/f /rooted; grep -q " /fresh tmpfs " /proc/mounts && echo tmpfs'],
    stdout: sink('second'),
  });
  await container.release();
  return fileResult(
    client,
    'exec.json',
    JSON.stringify({ firstExit: first.exitCode, secondExit: second.exitCode, ...text }),
  );
}

async function frontend(client: FrontendClient): Promise<GatewayResult> {
  switch (mode) {
    case 'hang':
      await new Promise(() => setInterval(() => undefined, 1000));
      throw new Error('unreachable');
    case 'invalid-llb':
      return client.solve({
        definition: {
          $typeName: 'pb.Definition',
          def: [Buffer.from('this is not an op')],
          metadata: {},
          Source: undefined,
        },
      });
    case 'bad-ref':
      return { ref: { id: 'never-handed-out' }, metadata: new Map() };
    case 'exec':
      return exec(client);
    case 'exec-shared':
      return execShared(client);
    case 'fail':
      throw Object.assign(new Error('test frontend refuses: line 2 is wrong'), {
        kind: 'invalid-argument',
        source: {
          filename: 'Dockerfile',
          data: Buffer.from('FROM scratch\nBROKEN\n'),
          ranges: [{ start: { line: 2 }, end: { line: 2 } }],
        },
      });
    default:
      return report(client);
  }
}

process.exit(await runFrontend(frontend));
