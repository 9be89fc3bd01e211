import { NativeSnapshotter } from './index.js';
import { snapshotterSuite } from './testsuite.js';

snapshotterSuite('NativeSnapshotter', async ({ root, db }) => new NativeSnapshotter({ root, db }));
