import type { MessageInitShape } from '@bufbuild/protobuf';
import { Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import {
  Control,
  type BuildHistoryEvent,
  type BuildHistoryRequestSchema,
  type BytesMessage,
  type DiskUsageResponse,
  type InfoResponse,
  type ListWorkersResponse,
  type PruneRequestSchema,
  type SolveRequestSchema,
  type SolveResponse,
  type StatusResponse,
  type UpdateBuildHistoryRequestSchema,
  type UsageRecord,
} from '../proto/gen/moby/buildkit/v1/control_pb.js';
import {
  LLBBridge,
  type PongResponse,
  type ReturnRequestSchema,
  type SolveRequestSchema as GatewaySolveRequestSchema,
  type SolveResponse as GatewaySolveResponse,
} from '../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import { ServiceClient, type ConnectOptions } from './grpc-client.js';

/**
 * A typed client of a BuildKit-compatible daemon's control socket: Control and the LLBBridge
 * gateway (calls tagged with the build's ref, as buildctl does). Works against kilnd and a real
 * buildkitd alike.
 */
export class ControlClient {
  readonly #control: ServiceClient<typeof Control>;
  readonly #gateway: ServiceClient<typeof LLBBridge>;

  constructor(
    readonly address: string,
    options: ConnectOptions = {},
  ) {
    this.#control = new ServiceClient(Control, address, options);
    this.#gateway = new ServiceClient(LLBBridge, address, options, this.#control.raw);
  }

  listWorkers(filter: string[] = []): Promise<ListWorkersResponse> {
    return this.#control.unary('listWorkers', { filter });
  }

  info(options: { deadline?: Date } = {}): Promise<InfoResponse> {
    return this.#control.unary('info', {}, options);
  }

  diskUsage(filter: string[] = []): Promise<DiskUsageResponse> {
    return this.#control.unary('diskUsage', { filter });
  }

  prune(
    request: MessageInitShape<typeof PruneRequestSchema> = {},
    signal?: AbortSignal,
  ): AsyncIterable<UsageRecord> {
    return this.#control.serverStream('prune', request, signal ? { signal } : {});
  }

  solve(request: MessageInitShape<typeof SolveRequestSchema>, signal?: AbortSignal): Promise<SolveResponse> {
    return this.#control.unary('solve', request, signal ? { signal } : {});
  }

  status(ref: string, signal?: AbortSignal): AsyncIterable<StatusResponse> {
    return this.#control.serverStream('status', { Ref: ref }, signal ? { signal } : {});
  }

  listenBuildHistory(
    request: MessageInitShape<typeof BuildHistoryRequestSchema>,
    signal?: AbortSignal,
  ): AsyncIterable<BuildHistoryEvent> {
    return this.#control.serverStream('listenBuildHistory', request, signal ? { signal } : {});
  }

  updateBuildHistory(request: MessageInitShape<typeof UpdateBuildHistoryRequestSchema>): Promise<unknown> {
    return this.#control.unary('updateBuildHistory', request);
  }

  /** Opens the session tunnel with the given `x-docker-expose-session-*` metadata. */
  session(metadata: Metadata): ClientDuplexStream<BytesMessage, BytesMessage> {
    return this.#control.bidi('session', metadata);
  }

  ping(buildRef: string): Promise<PongResponse> {
    return this.#gateway.unary('ping', {}, { metadata: buildIdMetadata(buildRef) });
  }

  gatewaySolve(
    buildRef: string,
    request: MessageInitShape<typeof GatewaySolveRequestSchema>,
    signal?: AbortSignal,
  ): Promise<GatewaySolveResponse> {
    return this.#gateway.unary('solve', request, {
      metadata: buildIdMetadata(buildRef),
      ...(signal ? { signal } : {}),
    });
  }

  gatewayReturn(buildRef: string, request: MessageInitShape<typeof ReturnRequestSchema>): Promise<unknown> {
    return this.#gateway.unary('return', request, { metadata: buildIdMetadata(buildRef) });
  }

  close(): void {
    this.#gateway.close();
    this.#control.close();
  }
}

function buildIdMetadata(ref: string): Metadata {
  const metadata = new Metadata();
  metadata.set('buildkit-controlapi-buildid', ref);
  return metadata;
}
