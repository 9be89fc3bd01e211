import type { Logger } from 'pino';
import type { ContentStore } from '../../content/index.js';
import type { Executor } from '../../executor/index.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import type { SessionManager } from '../../session/index.js';
import type { CacheMounts } from '../cache-mounts.js';
import { SolveRequestError } from '../errors.js';
import type { RegistryAccess } from '../registry-access.js';
import type { OpFactory } from '../scheduler.js';
import type { TreeRecordStore } from '../tree-records.js';
import { DiffOpImpl } from './diff-op.js';
import { ExecOpImpl } from './exec-op.js';
import { FileOpImpl } from './file-op.js';
import { GitSourceOp } from './git-source.js';
import { HttpSourceOp, type HttpSourceCache } from './http-source.js';
import { MergeOpImpl } from './merge-op.js';
import { ImageSourceOp } from './image-source.js';
import { LocalSourceOp } from './local-source.js';
import type { OpSnapshots } from './snapshots.js';

export interface OpDeps {
  readonly snapshotter: LocalSnapshotter;
  readonly snapshots: OpSnapshots;
  readonly executor: Executor;
  readonly content: ContentStore;
  readonly registries: RegistryAccess;
  readonly sessions: SessionManager;
  readonly cacheMounts: CacheMounts;
  readonly records: TreeRecordStore;
  readonly httpCache: HttpSourceCache;
  readonly defaultNetwork: 'host' | 'none';
  readonly logger?: Logger;
}

/** The op implementation for each LLB op kind and source scheme. */
export function createOpFactory(deps: OpDeps): OpFactory {
  return (view, platform) => {
    const op = view.op.op;
    switch (op.case) {
      case 'source': {
        const id = op.value.identifier;
        if (id.startsWith('docker-image://')) return new ImageSourceOp(view, platform, deps);
        if (id.startsWith('local://')) return new LocalSourceOp(view, deps);
        if (id.startsWith('git://')) return new GitSourceOp(view, deps);
        if (id.startsWith('http://') || id.startsWith('https://')) return new HttpSourceOp(view, deps);
        throw new SolveRequestError(`source ${JSON.stringify(id)} is not supported yet`, 'unimplemented');
      }
      case 'exec':
        return new ExecOpImpl(view, platform, deps);
      case 'file':
        return new FileOpImpl(view, platform, deps);
      case 'merge':
        return new MergeOpImpl(view, deps);
      case 'diff':
        return new DiffOpImpl(view, deps);
      default:
        throw new SolveRequestError(`${op.case ?? 'unknown'} ops are not supported yet`, 'unimplemented');
    }
  };
}

export type { OpSnapshots } from './snapshots.js';
export { HttpSourceCache } from './http-source.js';
