import { decodeDefinition, type DecodeOptions } from '../llb/index.js';
import type { Definition } from '../proto/gen/pb/ops_pb.js';
import type { LoadedDefinition } from './gateway.js';
import { toOpView, type LlbOpView, type SourceLocation } from './llb-view.js';
import type { Source } from '../proto/gen/pb/ops_pb.js';

function locationOf(source: Source | undefined, digest: string): SourceLocation | undefined {
  const location = source?.locations[digest]?.locations[0];
  const info = location ? source?.infos[location.sourceIndex] : undefined;
  if (!location || !info) return undefined;
  return {
    filename: info.filename,
    data: info.data,
    ...(info.language ? { language: info.language } : {}),
    ranges: location.ranges.map((r) => ({
      start: { line: r.start?.line ?? 0, character: r.start?.character ?? 0 },
      end: { line: r.end?.line ?? 0, character: r.end?.character ?? 0 },
    })),
  };
}

/** Decodes and validates a definition (refusing bad LLB with invalid-argument) for the scheduler. */
export function loadDefinition(definition: Definition, options: DecodeOptions = {}): LoadedDefinition {
  const graph = decodeDefinition(definition, options);
  const ops = new Map<string, LlbOpView>();
  for (const [digest, vertex] of graph.vertices) {
    const source = locationOf(graph.source, digest);
    ops.set(digest, {
      ...toOpView(digest, vertex.op, vertex.metadata),
      inputDigests: vertex.inputDigests,
      ...(source ? { source } : {}),
    });
  }
  return { graph: { ops }, target: { digest: graph.result.digest, index: graph.result.index } };
}
