import { create, toBinary } from '@bufbuild/protobuf';
import type { ContentStore } from '../../content/index.js';
import { sha256 } from '../../oci/index.js';
import { DiffOpSchema, type DiffOp } from '../../proto/gen/pb/ops_pb.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import { SolveRequestError } from '../errors.js';
import type { LlbOpView } from '../llb-view.js';
import type { CacheMap, OpContext, ResultRef, SolverOp } from '../op.js';
import { layerChain, stackLayers } from './layer-copy.js';

/**
 * DiffOp: the changes that turn `lower` into `upper`, as layers on scratch. kiln supports the
 * common case BuildKit's Dockerfile frontend produces: `upper` built on top of `lower`.
 */
export class DiffOpImpl implements SolverOp {
  readonly outputs = 1;
  readonly recordType = 'regular';
  readonly #diff: DiffOp;

  constructor(
    private readonly view: LlbOpView,
    private readonly deps: { snapshotter: LocalSnapshotter; content: ContentStore },
  ) {
    if (view.op.op.case !== 'diff') throw new Error('not a diff op');
    this.#diff = view.op.op.value;
  }

  async cacheMap(): Promise<CacheMap> {
    return {
      digest: sha256(
        Buffer.concat([Buffer.from('diff|'), toBinary(DiffOpSchema, create(DiffOpSchema, this.#diff))]),
      ),
      deps: this.view.op.inputs.map(() => ({ contentBased: false, selectors: [] })),
    };
  }

  async exec(ctx: OpContext, inputs: readonly ResultRef[]): Promise<readonly ResultRef[]> {
    const at = (index: bigint | undefined): string | undefined =>
      index === undefined || index < 0n ? undefined : inputs[Number(index)]?.snapshot;
    const lower = at(this.#diff.lower?.input);
    const upper = at(this.#diff.upper?.input);
    const upperChain = await layerChain(this.deps.snapshotter, upper);
    const start = lower === undefined ? 0 : upperChain.indexOf(lower) + 1;
    if (lower !== undefined && start === 0) {
      throw new SolveRequestError(
        'diff between unrelated results is not supported: upper must be built on lower',
        'unimplemented',
      );
    }
    const top = await stackLayers({
      ...this.deps,
      base: undefined,
      layers: upperChain.slice(start),
      signal: ctx.signal,
    });
    return [{ snapshot: top }];
  }
}
