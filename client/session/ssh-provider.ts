import { connect } from 'node:net';
import type { Server, ServerDuplexStream, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { grpcServiceDefinition } from '../../proto/index.js';
import {
  BytesMessageSchema,
  CheckAgentResponseSchema,
  SSH,
  type BytesMessage,
  type CheckAgentRequest,
  type CheckAgentResponse,
} from '../../proto/gen/moby/sshforward/v1/ssh_pb.js';
import { metadataValues, writeWithBackpressure } from './packet-stream.js';
import { addService, grpcError, type SessionProvider } from './provider.js';

/**
 * Forwards SSH agents (`--ssh default=$SSH_AUTH_SOCK`): CheckAgent answers for known ids, and
 * each ForwardAgent stream (metadata `buildkit.ssh.id`) is relayed to a new connection to that
 * agent's socket, raw bytes both ways, half-closing on EOF.
 */
export class SshProvider implements SessionProvider {
  private readonly agents: ReadonlyMap<string, string>;

  /** `agents`: ssh id → agent socket path (the caller resolves SSH_AUTH_SOCK). */
  constructor(options: { agents: Record<string, string> }) {
    this.agents = new Map(Object.entries(options.agents));
  }

  register(server: Server): string[] {
    return addService(server, grpcServiceDefinition(SSH), {
      checkAgent: (
        call: ServerUnaryCall<CheckAgentRequest, CheckAgentResponse>,
        callback: sendUnaryData<CheckAgentResponse>,
      ) => {
        const id = call.request.ID || 'default';
        if (this.agents.has(id)) callback(null, create(CheckAgentResponseSchema, {}));
        else callback(grpcError(status.NOT_FOUND, `unset ssh forward key ${id}`));
      },
      forwardAgent: (call: ServerDuplexStream<BytesMessage, BytesMessage>) => this.forward(call),
    });
  }

  private forward(call: ServerDuplexStream<BytesMessage, BytesMessage>): void {
    const id = metadataValues(call.metadata.get('buildkit.ssh.id'))[0] ?? 'default';
    const path = this.agents.get(id);
    if (!path) {
      call.emit('error', grpcError(status.NOT_FOUND, `unset ssh forward key ${id}`));
      return;
    }
    const socket = connect(path);
    socket.on('error', (err) => {
      if (!call.destroyed)
        call.emit('error', grpcError(status.UNAVAILABLE, `ssh agent ${id}: ${err.message}`));
    });
    call.on('data', (message: BytesMessage) => {
      if (!socket.write(message.data)) {
        call.pause();
        socket.once('drain', () => call.resume());
      }
    });
    call.on('end', () => socket.end());
    call.on('cancelled', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      socket.pause();
      writeWithBackpressure(call, create(BytesMessageSchema, { data: chunk })).then(
        () => socket.resume(),
        () => socket.destroy(),
      );
    });
    socket.on('end', () => call.end());
  }
}
