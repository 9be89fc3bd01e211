import { Server, ServerCredentials, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Duplex } from 'node:stream';
import { LLBBridge } from '../../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import { grpcServiceDefinition } from '../../proto/index.js';

/** Definitions and ReadFile answers can be large; Go's default 4 MiB limit is too tight. */
const maxMessageBytes = 64 << 20;

/**
 * Serves LLBBridge to one frontend over a byte stream (the frontend's stdin and stdout): a grpc-js
 * server with no listener, the stream injected as its only connection. `close` drops the
 * connection and every call on it.
 */
export function serveLlbBridge(service: UntypedServiceImplementation, transport: Duplex): { close(): void } {
  const server = new Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
  });
  server.addService(grpcServiceDefinition(LLBBridge), service);
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  injector.injectConnection(transport);
  return {
    close: () => {
      injector.destroy();
      server.forceShutdown();
    },
  };
}
