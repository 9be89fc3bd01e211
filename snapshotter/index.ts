export type { Mount } from './mount.js';
