import { create } from '@bufbuild/protobuf';
import { MergeInputSchema, MergeOpSchema, OpSchema } from '../proto/gen/pb/ops_pb.js';
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

class MergeVertex implements Vertex {
  readonly kind = 'merge' as const;

  constructor(
    private readonly outputs: readonly Output[],
    private readonly constraints: VertexConstraints,
  ) {}

  inputs(): readonly Output[] {
    return this.outputs;
  }

  marshal(ctx: MarshalContext): MarshalledVertex {
    // Merges are not platform specific: the envelope's platform is dropped. Inputs are listed once
    // per merged state, repeats included, as in the Go client.
    const envelope = opEnvelope(ctx, this.constraints, ['mergeop']);
    const inputs = this.outputs.map((o) => {
      const ref = ctx.input(o);
      return { digest: ref.digest, index: BigInt(ref.index) };
    });
    return {
      op: create(OpSchema, {
        inputs,
        op: {
          case: 'merge',
          value: create(MergeOpSchema, {
            inputs: inputs.map((_, i) => create(MergeInputSchema, { input: BigInt(i) })),
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
 * The states' filesystems layered in order (later wins). Scratch states are skipped; with one
 * state left it is returned as is, with none the result is scratch.
 */
export function merge(states: readonly State[], options: VertexOptions = {}): State {
  const outputs = states.flatMap((s) => (s.output ? [s.output] : []));
  const [first] = states.filter((s) => s.output);
  if (outputs.length === 0) return State.fromOutput(undefined);
  if (outputs.length === 1 && first) return first;
  return State.fromOutput({ vertex: new MergeVertex(outputs, vertexConstraints(options)), index: 0 });
}
