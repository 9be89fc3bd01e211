import { create, toBinary } from '@bufbuild/protobuf';
import type { ContentStore } from '../../content/index.js';
import { sha256 } from '../../oci/index.js';
import { MergeOpSchema, type MergeOp } from '../../proto/gen/pb/ops_pb.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import type { LlbOpView } from '../llb-view.js';
import type { CacheMap, OpContext, ResultRef, SolverOp } from '../op.js';
import { layerChain, stackLayers } from './layer-copy.js';

/**
 * MergeOp: the first input, then every layer of each further input on top, in order (the basis
 * of `COPY --link`). Layers keep their own blobs, so the merged image reuses them unchanged.
 */
export class MergeOpImpl implements SolverOp {
  readonly outputs = 1;
  readonly recordType = 'regular';
  readonly #merge: MergeOp;

  constructor(
    private readonly view: LlbOpView,
    private readonly deps: { snapshotter: LocalSnapshotter; content: ContentStore },
  ) {
    if (view.op.op.case !== 'merge') throw new Error('not a merge op');
    this.#merge = view.op.op.value;
  }

  async cacheMap(): Promise<CacheMap> {
    return {
      digest: sha256(
        Buffer.concat([Buffer.from('merge|'), toBinary(MergeOpSchema, create(MergeOpSchema, this.#merge))]),
      ),
      deps: this.view.op.inputs.map(() => ({ contentBased: false, selectors: [] })),
    };
  }

  async exec(ctx: OpContext, inputs: readonly ResultRef[]): Promise<readonly ResultRef[]> {
    const parts = this.#merge.inputs.map((i) => inputs[Number(i.input)]?.snapshot);
    const [first, ...rest] = parts;
    const layers: string[] = [];
    for (const snapshot of rest) layers.push(...(await layerChain(this.deps.snapshotter, snapshot)));
    const top = await stackLayers({ ...this.deps, base: first, layers, signal: ctx.signal });
    return [{ snapshot: top }];
  }
}
