import { create } from '@bufbuild/protobuf';
import type { handleUnaryCall } from '@grpc/grpc-js';
import {
  ExplainResponseSchema,
  type ExplainRequest,
  type ExplainResponse,
} from '../proto/gen/kiln/v1/insight_pb.js';
import { explainBuild, type BuildHistory, type TreeRecordStore } from '../solver/index.js';
import { toServiceError } from './grpc-status.js';

/** kiln.v1.Insight: cache-miss explanations and critical paths of finished builds. */
export function insightService(deps: { history: BuildHistory; records: TreeRecordStore }): {
  explain: handleUnaryCall<ExplainRequest, ExplainResponse>;
} {
  return {
    explain: (call, callback) => {
      try {
        const explanation = explainBuild({ ...deps, ...(call.request.ref ? { ref: call.request.ref } : {}) });
        if (!explanation) {
          throw Object.assign(
            new Error(`no finished build ${call.request.ref || ''} in the history`.replace('  ', ' ')),
            {
              kind: 'not-found',
            },
          );
        }
        callback(null, create(ExplainResponseSchema, { json: JSON.stringify(explanation) }));
      } catch (err) {
        callback(toServiceError(err));
      }
    },
  };
}
