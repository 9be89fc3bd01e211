// The README's first command: a real multi-stage Dockerfile build with kiln on this machine,
// with no registry access beyond what it sets up itself (a local registry holding a busybox
// base image made from Debian's busybox-static package).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const { startRegistry } = await import(join(dist, 'test/fixtures/registry.js'));
const { pushBusyboxIndex } = await import(join(dist, 'test/fixtures/busybox-image.js'));
const { startKilnd } = await import(join(dist, 'test/fixtures/kilnd.js'));

const work = await mkdtemp(join(tmpdir(), 'kiln-demo-'));
console.log('starting a local registry with a busybox base image…');
const registry = await startRegistry({ auth: 'none' });
const daemon = await startKilnd();
try {
  const { ref } = await pushBusyboxIndex(registry);
  console.log(`kilnd is listening on ${daemon.address}`);
  const out = join(work, 'out');
  const example = join(root, 'examples', 'hello');
  const args = [
    join(dist, 'client', 'main.js'),
    '--addr',
    daemon.address,
    'build',
    '--frontend',
    'dockerfile.v0',
    '--local',
    `context=${example}`,
    '--local',
    `dockerfile=${example}`,
    '--opt',
    `build-arg:BASE=${ref}`,
    '--output',
    `type=local,dest=${out}`,
    '--progress',
    'plain',
  ];
  const code = await new Promise((resolve) =>
    spawn(process.execPath, args, { stdio: 'inherit' }).on('close', resolve),
  );
  if (code !== 0) throw new Error(`kilnctl build exited with ${code}`);
  console.log(`\nbuilt into ${out}:`);
  for (const name of await readdir(join(out, 'out'))) {
    console.log(`  /out/${name}: ${(await readFile(join(out, 'out', name), 'utf8')).trim()}`);
  }
} finally {
  await daemon.dispose();
  await registry.stop();
}
