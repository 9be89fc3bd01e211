import { create } from '@bufbuild/protobuf';
import {
  DiffOpSchema,
  LowerDiffInputSchema,
  OpSchema,
  UpperDiffInputSchema,
} from '../proto/gen/pb/ops_pb.js';
import { State } from './state.js';
import {
  opEnvelope,
  vertexConstraints,
  type MarshalContext,
  type MarshalledVertex,
  type Output,
  type Vertex,
  type VertexConstraints,
  type VertexOptions,
} from './vertex.js';

class DiffVertex implements Vertex {
  readonly kind = 'diff' as const;

  constructor(
    private readonly lower: Output,
    private readonly upper: Output | undefined,
    private readonly constraints: VertexConstraints,
  ) {}

  inputs(): readonly Output[] {
    return this.upper ? [this.lower, this.upper] : [this.lower];
  }

  marshal(ctx: MarshalContext): MarshalledVertex {
    // Diffs are not platform specific: the envelope's platform is dropped.
    const envelope = opEnvelope(ctx, this.constraints, ['diffop']);
    const inputs = this.inputs().map((o) => {
      const ref = ctx.input(o);
      return { digest: ref.digest, index: BigInt(ref.index) };
    });
    return {
      op: create(OpSchema, {
        inputs,
        op: {
          case: 'diff',
          value: create(DiffOpSchema, {
            lower: create(LowerDiffInputSchema, { input: 0n }),
            upper: create(UpperDiffInputSchema, { input: this.upper ? 1n : -1n }),
          }),
        },
        constraints: envelope.constraints,
      }),
      metadata: envelope.metadata,
      sourceLocations: this.constraints.sourceLocations,
    };
  }
}

/**
 * The changes that turn `lower` into `upper`, as a filesystem (deletions as whiteouts when
 * exported). A scratch lower yields `upper` itself; both scratch yields scratch.
 */
export function diff(lower: State, upper: State, options: VertexOptions = {}): State {
  if (!lower.output) return upper.output ? upper : State.fromOutput(undefined);
  return State.fromOutput({
    vertex: new DiffVertex(lower.output, upper.output, vertexConstraints(options)),
    index: 0,
  });
}
