import { create, fromBinary, toBinary, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import {
  ExecMessageSchema,
  LLBBridge,
  type ExecMessage,
} from '../../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import type { GrpcCall, GrpcConnection } from './grpc-connection.js';

type Methods = typeof LLBBridge.method;
/** The LLBBridge methods with one request and one reply (all but ExecProcess). */
export type UnaryMethod = {
  [K in keyof Methods]: Methods[K]['methodKind'] extends 'unary' ? K : never;
}[keyof Methods];

/** One ExecProcess stream: typed messages both ways. */
export interface ExecStream extends AsyncIterable<ExecMessage> {
  send(message: MessageInitShape<typeof ExecMessageSchema>): Promise<void>;
  end(): void;
  cancel(): void;
  readonly done: Promise<void>;
}

/**
 * `moby.buildkit.v1.frontend.LLBBridge` as a frontend calls it: typed requests and replies over a
 * GrpcConnection. Errors: GatewayCallError (the daemon's status), GatewayConnectionError.
 */
export class LlbBridgeClient {
  readonly #connection: GrpcConnection;

  constructor(connection: GrpcConnection) {
    this.#connection = connection;
  }

  async call<K extends UnaryMethod>(
    name: K,
    request: MessageInitShape<Methods[K]['input']>,
    signal?: AbortSignal,
  ): Promise<MessageShape<Methods[K]['output']>> {
    const method = LLBBridge.method[name];
    const input = method.input as Methods[K]['input'];
    const bytes = toBinary(input, create(input, request));
    const reply = await this.#connection.unary(`/${LLBBridge.typeName}/${method.name}`, bytes, signal);
    return fromBinary(method.output as Methods[K]['output'], reply);
  }

  /** Opens an ExecProcess stream (one per process). */
  exec(signal?: AbortSignal): ExecStream {
    const call: GrpcCall = this.#connection.call(
      `/${LLBBridge.typeName}/${LLBBridge.method.execProcess.name}`,
      signal,
    );
    return {
      send: (message) => call.send(toBinary(ExecMessageSchema, create(ExecMessageSchema, message))),
      end: () => call.end(),
      cancel: () => call.cancel(),
      done: call.done,
      async *[Symbol.asyncIterator]() {
        for await (const bytes of call) yield fromBinary(ExecMessageSchema, bytes);
      },
    };
  }
}
