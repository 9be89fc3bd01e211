import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { handleServerStreamingCall, handleUnaryCall } from '@grpc/grpc-js';
import {
  BuildHistoryEventSchema,
  BuildHistoryEventType,
  BuildHistoryRecordSchema,
  UpdateBuildHistoryResponseSchema,
  type BuildHistoryEvent,
  type BuildHistoryRecord,
  type BuildHistoryRequest,
  type UpdateBuildHistoryRequest,
  type UpdateBuildHistoryResponse,
} from '../proto/gen/moby/buildkit/v1/control_pb.js';
import type { BuildHistory, BuildRecord, HistoryEvent } from '../solver/index.js';
import { statusCodeOf, toServiceError } from './grpc-status.js';

function toRecord(r: BuildRecord): BuildHistoryRecord {
  return create(BuildHistoryRecordSchema, {
    Ref: r.ref,
    Frontend: r.frontend,
    FrontendAttrs: { ...r.frontendAttrs },
    Exporters: r.exporters.map((e) => ({ Type: e.type, Attrs: { ...e.attrs } })),
    ...(r.error ? { error: { code: statusCodeOf(r.error.kind), message: r.error.message } } : {}),
    CreatedAt: timestampFromDate(r.createdAt),
    ...(r.completedAt ? { CompletedAt: timestampFromDate(r.completedAt) } : {}),
    ExporterResponse: { ...r.exporterResponse },
    Generation: r.generation,
    pinned: r.pinned,
    numCachedSteps: r.numCachedSteps,
    numTotalSteps: r.numTotalSteps,
    numCompletedSteps: r.numCompletedSteps,
    numWarnings: r.numWarnings,
  });
}

const eventType = {
  started: BuildHistoryEventType.STARTED,
  complete: BuildHistoryEventType.COMPLETE,
  deleted: BuildHistoryEventType.DELETED,
} as const;

function toEvent(event: HistoryEvent): BuildHistoryEvent {
  return create(BuildHistoryEventSchema, { type: eventType[event.type], record: toRecord(event.record) });
}

/** Control.ListenBuildHistory and Control.UpdateBuildHistory over the solver's history. */
export function historyHandlers(history: BuildHistory): {
  listenBuildHistory: handleServerStreamingCall<BuildHistoryRequest, BuildHistoryEvent>;
  updateBuildHistory: handleUnaryCall<UpdateBuildHistoryRequest, UpdateBuildHistoryResponse>;
} {
  return {
    listenBuildHistory: (call) => {
      const { ActiveOnly, Ref, EarlyExit, Limit } = call.request;
      const wanted = (r: BuildRecord) => !Ref || r.ref === Ref;
      let records = history.list({ activeOnly: ActiveOnly, ...(Ref ? { ref: Ref } : {}) });
      if (Limit > 0) records = records.slice(0, Limit);
      for (const record of records) {
        call.write(toEvent({ type: record.completedAt ? 'complete' : 'started', record }));
      }
      if (EarlyExit) {
        call.end();
        return;
      }
      const unsubscribe = history.subscribe((event) => {
        if (!wanted(event.record)) return;
        if (ActiveOnly && event.type !== 'started' && event.type !== 'complete') return;
        call.write(toEvent(event));
        // Following one active build ends with its completion.
        if (Ref && event.type === 'complete') {
          unsubscribe();
          call.end();
        }
      });
      call.on('cancelled', unsubscribe);
      call.on('close', unsubscribe);
    },
    updateBuildHistory: (call, callback) => {
      try {
        const { Ref, Pinned, Delete } = call.request;
        if (Delete) history.delete(Ref);
        else history.pin(Ref, Pinned);
        callback(null, create(UpdateBuildHistoryResponseSchema));
      } catch (err) {
        callback(toServiceError(err));
      }
    },
  };
}
