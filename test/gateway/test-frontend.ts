/**
 * A frontend image's entrypoint for the gateway tests, behaving as `--opt mode=…` says:
 * `report` (default) returns a file describing what the frontend saw, `crash` exits without
 * returning, `hang` never returns, `invalid-llb` solves garbage, `bad-ref` returns a ref it never
 * got, `exec` runs processes in a gateway container, `fail` throws an error with Dockerfile lines.
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

async function exec(client: FrontendClient): Promise<GatewayResult> {
  const busybox = client.frontendOpt.busybox!;
  const base = await client.solve({ definition: marshal(image(busybox), { caps: client.llbCaps }) });
  const container = await client.newContainer({
    mounts: [{ dest: '/', ref: base.ref! }, { dest: '/scratch' }, { dest: '/fresh', type: 'tmpfs' }],
    network: 'none',
  });
  const output = { out: '', err: '', second: '' };
  const sink = (key: keyof typeof output) =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        output[key] += chunk.toString('utf8');
        callback();
      },
    });
  const first = await container.run({
    args: [
      '/bin/sh',
      '-c',
      'tr a-z A-Z; echo to-stderr >&2; echo kept > /scratch/f; echo rooted > /rooted; exit 3',
    ],
    stdin: 'hello from stdin\n',
    stdout: sink('out'),
    stderr: sink('err'),
  });
  // A second process sees the first one's writes: the container's snapshots are shared.
  const again = await container.run({
    args: ['/bin/sh', '-c', 'cat /scratch/f /rooted; grep -q " /fresh tmpfs " /proc/mounts && echo tmpfs'],
    stdout: sink('second'),
  });
  await container.release();
  return fileResult(
    client,
    'exec.json',
    JSON.stringify({ exitCode: first.exitCode, ...output, secondExit: again.exitCode }),
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

process.exitCode = await runFrontend(frontend);
