import { decodeDefinition, type DecodeOptions } from '../llb/index.js';
import type { Definition } from '../proto/gen/pb/ops_pb.js';
import type { LoadedDefinition } from './gateway.js';
import { toOpView, type LlbOpView } from './llb-view.js';

/** Decodes and validates a definition (refusing bad LLB with invalid-argument) for the scheduler. */
export function loadDefinition(definition: Definition, options: DecodeOptions = {}): LoadedDefinition {
  const graph = decodeDefinition(definition, options);
  const ops = new Map<string, LlbOpView>();
  for (const [digest, vertex] of graph.vertices) {
    ops.set(digest, { ...toOpView(digest, vertex.op, vertex.metadata), inputDigests: vertex.inputDigests });
  }
  return { graph: { ops }, target: { digest: graph.result.digest, index: graph.result.index } };
}
