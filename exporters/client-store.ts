import type { Readable } from 'node:stream';
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  Content,
  WriteAction,
  type WriteContentRequestSchema,
} from '../proto/gen/containerd/services/content/v1/content_pb.js';
import { isIndexMediaType, isManifestMediaType, type Descriptor } from '../oci/index.js';
import type { Session } from '../session/index.js';
import { ClientStoreError } from './errors.js';

const storeIdKey = 'buildkit-attachable-store-id';
const chunkSize = 1 << 20;
const alreadyExists = 6;

/** containerd's ref for a blob being written (`remotes.MakeRefKey`): the kind, then the digest. */
function refKey(d: Descriptor): string {
  if (isManifestMediaType(d.mediaType)) return `manifest-${d.digest}`;
  if (isIndexMediaType(d.mediaType)) return `index-${d.digest}`;
  if (/config/.test(d.mediaType)) return `config-${d.digest}`;
  if (/layer|rootfs/.test(d.mediaType)) return `layer-${d.digest}`;
  return `unknown-${d.digest}`;
}

/**
 * The client's content store reached through the session (containerd's `Content` service,
 * which buildctl serves for `--output type=oci,tar=false,dest=DIR` under the store id `export`).
 * session/ offers no client for this service, so this small one lives here: one `Write` stream
 * per blob (STAT, WRITE chunks, COMMIT, each answered by the client), as BuildKit does.
 */
export class ClientContentStore {
  constructor(
    private readonly session: Session,
    private readonly storeId: string,
  ) {}

  /**
   * Writes one blob from `open()`; nothing is read when the client already has it. Throws
   * ClientStoreError (kind from the client's gRPC status), or the signal's reason.
   */
  async write(
    descriptor: Descriptor,
    open: () => Promise<Readable>,
    signal?: AbortSignal,
  ): Promise<'written' | 'exists'> {
    signal?.throwIfAborted();
    const call = this.session.bidi(Content.method.write, {
      metadata: { [storeIdKey]: this.storeId },
      ...(signal ? { signal } : {}),
    });
    const responses = call[Symbol.asyncIterator]();
    const exchange = async (request: MessageInitShape<typeof WriteContentRequestSchema>): Promise<bigint> => {
      await call.send(request);
      const next = await responses.next();
      if (next.done) throw new Error('the client closed the write without answering');
      return next.value.offset;
    };
    const base = {
      ref: refKey(descriptor),
      total: BigInt(descriptor.size),
      expected: descriptor.digest,
    };
    try {
      let offset = await exchange({ ...base, action: WriteAction.STAT });
      if (offset > BigInt(descriptor.size)) offset = 0n;
      if (offset < BigInt(descriptor.size)) {
        const stream = await open();
        try {
          let skip = Number(offset);
          for await (const chunk of stream) {
            let data = chunk as Buffer;
            if (skip > 0) {
              const cut = Math.min(skip, data.length);
              data = data.subarray(cut);
              skip -= cut;
            }
            for (let at = 0; at < data.length; at += chunkSize) {
              const part = data.subarray(at, at + chunkSize);
              await exchange({ action: WriteAction.WRITE, offset, data: part });
              offset += BigInt(part.length);
            }
          }
        } finally {
          stream.destroy();
        }
      }
      await exchange({ ...base, action: WriteAction.COMMIT, offset });
      call.end();
      await call.done;
      return 'written';
    } catch (error) {
      call.cancel();
      signal?.throwIfAborted();
      // The client answers a STAT for a blob it already has with AlreadyExists.
      if ((error as { grpcCode?: unknown }).grpcCode === alreadyExists) return 'exists';
      throw new ClientStoreError(
        `writing ${descriptor.digest} into the client's content store ${JSON.stringify(this.storeId)} failed: ${(error as Error).message}`,
        descriptor.digest,
        { cause: error },
      );
    }
  }
}
