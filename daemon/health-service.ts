import { create } from '@bufbuild/protobuf';
import type { handleServerStreamingCall, handleUnaryCall } from '@grpc/grpc-js';
import {
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from '../proto/gen/grpc/health/v1/health_pb.js';

/**
 * The standard gRPC health service (what Kubernetes probes and load balancers call): SERVING
 * while the daemon takes builds, NOT_SERVING once it is draining.
 */
export function healthService(isServing: () => boolean): {
  check: handleUnaryCall<HealthCheckRequest, HealthCheckResponse>;
  watch: handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse>;
} {
  const current = () =>
    create(HealthCheckResponseSchema, {
      status: isServing() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING,
    });
  return {
    check: (_call, callback) => callback(null, current()),
    watch: (call) => {
      let last = current();
      call.write(last);
      const timer = setInterval(() => {
        const now = current();
        if (now.status !== last.status) call.write((last = now));
      }, 1000);
      call.on('cancelled', () => clearInterval(timer));
      call.on('close', () => clearInterval(timer));
    },
  };
}
