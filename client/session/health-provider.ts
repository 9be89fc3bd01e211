import type { Server, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { grpcServiceDefinition } from '../../proto/index.js';
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from '../../proto/gen/grpc/health/v1/health_pb.js';
import { addService, type SessionProvider } from './provider.js';

/** grpc.health.v1.Health/Check, always SERVING while the session is up (always attached). */
export class HealthProvider implements SessionProvider {
  register(server: Server): string[] {
    return addService(server, grpcServiceDefinition(Health), {
      check: (
        _call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
        callback: sendUnaryData<HealthCheckResponse>,
      ) =>
        callback(
          null,
          create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }),
        ),
    });
  }
}
