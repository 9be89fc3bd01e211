import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  StatusResponseSchema,
  VertexLogSchema,
  VertexSchema,
  VertexStatusSchema,
  VertexWarningSchema,
  type StatusResponse,
} from '../proto/gen/moby/buildkit/v1/control_pb.js';
import type { ProgressEvent } from '../solver/index.js';

/** Packs a batch of progress events into one StatusResponse, as buildctl expects them (wire doc §5). */
export function toStatusResponse(events: readonly ProgressEvent[]): StatusResponse {
  const response = create(StatusResponseSchema);
  for (const event of events) {
    switch (event.type) {
      case 'vertex': {
        const v = event.vertex;
        response.vertexes.push(
          create(VertexSchema, {
            digest: v.digest,
            inputs: [...v.inputs],
            name: v.name,
            cached: v.cached,
            ...(v.started ? { started: timestampFromDate(v.started) } : {}),
            ...(v.completed ? { completed: timestampFromDate(v.completed) } : {}),
            error: v.error ?? '',
            ...(v.progressGroup ? { progressGroup: { ...v.progressGroup } } : {}),
          }),
        );
        break;
      }
      case 'status': {
        const s = event.status;
        response.statuses.push(
          create(VertexStatusSchema, {
            ID: s.id,
            vertex: s.vertex,
            name: s.name,
            current: BigInt(Math.trunc(s.current)),
            total: BigInt(Math.trunc(s.total)),
            timestamp: timestampFromDate(s.timestamp),
            ...(s.started ? { started: timestampFromDate(s.started) } : {}),
            ...(s.completed ? { completed: timestampFromDate(s.completed) } : {}),
          }),
        );
        break;
      }
      case 'log':
        response.logs.push(
          create(VertexLogSchema, {
            vertex: event.log.vertex,
            timestamp: timestampFromDate(event.log.timestamp),
            stream: BigInt(event.log.stream),
            msg: event.log.data,
          }),
        );
        break;
      case 'warning':
        response.warnings.push(
          create(VertexWarningSchema, {
            vertex: event.warning.vertex,
            level: BigInt(event.warning.level),
            short: new TextEncoder().encode(event.warning.short),
            detail: event.warning.detail.map((d) => new TextEncoder().encode(d)),
            url: event.warning.url ?? '',
          }),
        );
        break;
    }
  }
  return response;
}
