import type { Server, ServerDuplexStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { grpcServiceDefinition } from '../../proto/index.js';
import type { Packet } from '../../proto/gen/fsutil/types/wire_pb.js';
import { FileSync } from '../../proto/gen/moby/filesync/v1/filesync_pb.js';
import { sendTree } from './fs-sender.js';
import { metadataValues } from './packet-stream.js';
import { addService, grpcError, type SessionProvider } from './provider.js';

/**
 * Serves named local directories (`--local context=DIR`) over FileSync.DiffCopy, honouring the
 * daemon's dir-name, include-patterns, exclude-patterns and followpaths metadata.
 */
export class FileSyncProvider implements SessionProvider {
  private readonly dirs: ReadonlyMap<string, string>;
  private readonly logger: Logger | undefined;

  constructor(options: { dirs: Record<string, string>; logger?: Logger }) {
    this.dirs = new Map(Object.entries(options.dirs));
    this.logger = options.logger;
  }

  register(server: Server): string[] {
    return addService(server, grpcServiceDefinition(FileSync), {
      diffCopy: (call: ServerDuplexStream<Packet, Packet>) => void this.diffCopy(call),
    });
  }

  private async diffCopy(call: ServerDuplexStream<Packet, Packet>): Promise<void> {
    const name = metadataValues(call.metadata.get('dir-name'))[0] ?? '';
    const dir = this.dirs.get(name);
    if (dir === undefined) {
      call.emit('error', grpcError(status.NOT_FOUND, `no access allowed to dir ${JSON.stringify(name)}`));
      return;
    }
    const list = (key: string): string[] | undefined => {
      const values = metadataValues(call.metadata.get(key));
      return values.length ? values : undefined;
    };
    const includePatterns = list('include-patterns');
    const excludePatterns = list('exclude-patterns');
    const followPaths = list('followpaths');
    try {
      await sendTree(call, dir, {
        ...(includePatterns ? { includePatterns } : {}),
        ...(excludePatterns ? { excludePatterns } : {}),
        ...(followPaths ? { followPaths } : {}),
      });
      call.end();
    } catch (err) {
      this.logger?.debug({ err, dir: name }, 'FileSync.DiffCopy failed');
      if (!call.destroyed) call.emit('error', grpcError(status.UNKNOWN, (err as Error).message));
    }
  }
}
