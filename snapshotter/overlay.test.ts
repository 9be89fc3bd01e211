import { OverlaySnapshotter } from './index.js';
import { snapshotterSuite } from './testsuite.js';

snapshotterSuite('OverlaySnapshotter', async ({ root, db }) => new OverlaySnapshotter({ root, db }));
