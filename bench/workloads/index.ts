import type { Workload } from '../workload.js';
import { cacheMountWorkload } from './cache-mount.js';
import { concurrentWorkload } from './concurrent.js';
import { contextWorkload } from './context.js';
import { parallelWorkload } from './parallel.js';
import { platformsWorkload } from './platforms.js';
import { pullWorkload } from './pull.js';
import { pushWorkload } from './push.js';
import { registryCacheWorkload } from './registry-cache.js';
import { stepsWorkload } from './steps.js';

/** Every workload, in the order the table lists them. */
export const workloads: readonly Workload[] = [
  parallelWorkload,
  stepsWorkload,
  contextWorkload,
  platformsWorkload,
  cacheMountWorkload,
  pushWorkload,
  registryCacheWorkload,
  concurrentWorkload,
  pullWorkload,
];
