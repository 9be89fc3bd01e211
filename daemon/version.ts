import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KilnVersion } from './worker-info.js';

/** kiln's version as Info and ListWorkers report it (package.json's version). */
export function kilnVersion(): KilnVersion {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return { package: 'github.com/kiln-build/kiln', version: `v${pkg.version}`, revision: '' };
}
