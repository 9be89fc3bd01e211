import type { MethodDefinition, Server, ServerDuplexStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { FileSend } from '../../proto/gen/moby/filesync/v1/filesync_pb.js';
import { receiveStream, receiveTree } from './fs-receiver.js';
import { addService, grpcError, type SessionProvider } from './provider.js';

/** Where the daemon's FileSend output goes: a directory (local) or a file / Writable (tar, oci, docker). */
export type FileSendOutput =
  | { type: 'directory'; dir: string }
  | { type: 'file'; path: string }
  | { type: 'stream'; writable: Writable };

const identity = (b: Buffer): Buffer => b;

/** FileSend.DiffCopy carries fsutil packets or raw bytes depending on the output, so it is served untyped. */
const RAW_DEFINITION = {
  diffCopy: {
    path: `/${FileSend.typeName}/DiffCopy`,
    originalName: 'DiffCopy',
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  } satisfies MethodDefinition<Buffer, Buffer>,
};

/**
 * Receives the build result the daemon sends back: `--output type=local,dest=DIR` (merged into
 * DIR) or a byte stream for `type=tar|oci|docker` written to a file or a Writable. Exporter
 * metadata arriving as `exporter-md-*` is passed to `onMetadata`.
 */
export class FileSendProvider implements SessionProvider {
  private readonly output: FileSendOutput;
  private readonly logger: Logger | undefined;
  private readonly onMetadata: ((metadata: Record<string, string>) => void) | undefined;

  constructor(options: {
    output: FileSendOutput;
    onMetadata?: (metadata: Record<string, string>) => void;
    logger?: Logger;
  }) {
    this.output = options.output;
    this.logger = options.logger;
    this.onMetadata = options.onMetadata;
  }

  register(server: Server): string[] {
    return addService(server, RAW_DEFINITION, {
      diffCopy: (call: ServerDuplexStream<Buffer, Buffer>) => void this.diffCopy(call),
    });
  }

  private async diffCopy(call: ServerDuplexStream<Buffer, Buffer>): Promise<void> {
    const metadata: Record<string, string> = {};
    for (const [key, value] of Object.entries(call.metadata.getMap())) {
      if (key.startsWith('exporter-md-')) metadata[key.slice('exporter-md-'.length)] = value.toString();
    }
    this.onMetadata?.(metadata);
    try {
      if (this.output.type === 'directory') await receiveTree(call, this.output.dir);
      else await receiveStream(call, this.output.type === 'file' ? this.output.path : this.output.writable);
      call.end();
    } catch (err) {
      this.logger?.debug({ err }, 'FileSend.DiffCopy failed');
      if (!call.destroyed) call.emit('error', grpcError(status.UNKNOWN, (err as Error).message));
    }
  }
}
