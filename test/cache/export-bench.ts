// Bench (not a test): how long a mode=max registry cache export of a 30-step build takes, as
// buildctl reports the `exporting cache to registry` step. Run after building:
//   node dist-NAME/test/cache/export-bench.js [steps=30] [repetitions=5]
import { image, type State } from '../../llb/index.js';
import { buildctl } from '../fixtures/buildctl.js';
import { pushBusyboxIndex } from '../fixtures/busybox-image.js';
import { startKilnd } from '../fixtures/kilnd.js';
import { startRegistry } from '../fixtures/registry.js';
import { build } from './harness.js';

function chain(base: string, steps: number, salt: string): State {
  let state = image(base);
  for (let i = 1; i < steps; i++) {
    state = state
      .run({ args: ['/bin/sh', '-c', `echo ${salt}-${i} > /step-${i}; head -c 4096 /dev/urandom > /r-${i}`] })
      .root();
  }
  return state;
}

/** Seconds buildctl printed for a step's DONE line. */
function stepSeconds(stderr: string, name: string): number {
  const id = new RegExp(`^#(\\d+) ${name}$`, 'm').exec(stderr)?.[1];
  const done = id ? new RegExp(`^#${id} DONE ([\\d.]+)s$`, 'm').exec(stderr)?.[1] : undefined;
  if (!done) throw new Error(`no DONE line for ${name}:\n${stderr}`);
  return Number(done);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const steps = Number(process.argv[2] ?? 30);
const repetitions = Number(process.argv[3] ?? 5);
const registry = await startRegistry({ auth: 'none' });
const daemon = await startKilnd();
try {
  await pushBusyboxIndex(registry);
  const base = `${registry.host}/library/busybox:latest`;
  const cold: number[] = [];
  const warm: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    const state = chain(base, steps, `rep${r}-${Date.now()}`);
    const ref = `${registry.host}/bench/cache:${r}`;
    const first = await build(
      daemon.address,
      state,
      ['--export-cache', `type=registry,ref=${ref},mode=max`],
      daemon.logs,
    );
    cold.push(stepSeconds(first.stderr, 'exporting cache to registry'));
    // The same build again: every step cached, every blob already in the registry.
    const again = await build(
      daemon.address,
      state,
      ['--export-cache', `type=registry,ref=${ref},mode=max`],
      daemon.logs,
    );
    warm.push(stepSeconds(again.stderr, 'exporting cache to registry'));
  }
  await buildctl(daemon.address, ['prune', '--all']);
  console.log(
    JSON.stringify({
      steps,
      repetitions,
      exportSeconds: {
        firstExport: { median: median(cold), all: cold },
        reExport: { median: median(warm), all: warm },
      },
    }),
  );
} finally {
  await daemon.dispose();
  await registry.stop();
}
