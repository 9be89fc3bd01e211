import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { EmptySchema, timestampFromMs } from '@bufbuild/protobuf/wkt';
import {
  status as grpcStatus,
  type Server,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  Content,
  InfoResponseSchema,
  InfoSchema,
  ListContentResponseSchema,
  ListStatusesResponseSchema,
  ReadContentResponseSchema,
  StatusResponseSchema,
  StatusSchema,
  UpdateResponseSchema,
  WriteAction,
  WriteContentResponseSchema,
  type Info,
  type WriteContentRequest,
  type WriteContentResponse,
} from '../../proto/gen/containerd/services/content/v1/content_pb.js';
import { grpcServiceDefinition } from '../../proto/index.js';
import type { SessionProvider } from '../session/index.js';

const storeIdKey = 'buildkit-attachable-store-id';
const chunkSize = 1 << 20;

function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(details), { code, details });
}

interface Ingest {
  readonly ref: string;
  readonly path: string;
  readonly handle: FileHandle;
  readonly hash: ReturnType<typeof createHash>;
  offset: number;
  total: number;
  expected: string;
  readonly startedAt: number;
  updatedAt: number;
}

/**
 * Serves containerd's Content service inside a session over local directories, as buildctl does
 * for `--export-cache type=local,dest=DIR` (store `local:DIR`), `--import-cache type=local`, and
 * `--output type=oci|docker,tar=false,dest=DIR` (store `export`). Each call names its store in the
 * `buildkit-attachable-store-id` metadata; blobs live at `DIR/blobs/sha256/<hex>`, written
 * through `DIR/ingest/` and verified against their digest before the rename.
 */
export class ContentStoreProvider implements SessionProvider {
  readonly #stores: ReadonlyMap<string, string>;
  readonly #ingests = new Map<string, Ingest>();

  /** `stores`: store id (`local:out/cache`, `export`) → directory. */
  constructor(options: { stores: Record<string, string> }) {
    this.#stores = new Map(Object.entries(options.stores));
  }

  register(server: Server): string[] {
    const definition = grpcServiceDefinition(Content);
    const impl = {
      info: (call: ServerUnaryCall<{ digest: string }, unknown>, cb: sendUnaryData<unknown>) =>
        this.#unary(cb, async () =>
          create(InfoResponseSchema, { info: await this.#info(this.#root(call), call.request.digest) }),
        ),
      update: (call: ServerUnaryCall<{ info?: Info }, unknown>, cb: sendUnaryData<unknown>) =>
        this.#unary(cb, async () =>
          create(UpdateResponseSchema, {
            info: await this.#info(this.#root(call), call.request.info?.digest ?? ''),
          }),
        ),
      list: (call: ServerWritableStream<unknown, unknown>) => void this.#list(call),
      delete: (call: ServerUnaryCall<{ digest: string }, unknown>, cb: sendUnaryData<unknown>) =>
        this.#unary(cb, async () => {
          await rm(this.#blobPath(this.#root(call), call.request.digest));
          return create(EmptySchema);
        }),
      read: (call: ServerWritableStream<{ digest: string; offset: bigint; size: bigint }, unknown>) =>
        void this.#read(call),
      status: (call: ServerUnaryCall<{ ref: string }, unknown>, cb: sendUnaryData<unknown>) =>
        this.#unary(cb, async () => {
          const ingest = this.#ingests.get(this.#ingestKey(this.#root(call), call.request.ref));
          if (!ingest) throw grpcError(grpcStatus.NOT_FOUND, `ref ${call.request.ref}: not found`);
          return create(StatusResponseSchema, { status: statusOf(ingest) });
        }),
      listStatuses: (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) =>
        this.#unary(cb, async () => {
          const root = this.#root(call);
          const statuses = [...this.#ingests.entries()]
            .filter(([key]) => key.startsWith(root + '\0'))
            .map(([, ingest]) => statusOf(ingest));
          return create(ListStatusesResponseSchema, { statuses });
        }),
      write: (call: ServerDuplexStream<WriteContentRequest, WriteContentResponse>) => this.#write(call),
      abort: (call: ServerUnaryCall<{ ref: string }, unknown>, cb: sendUnaryData<unknown>) =>
        this.#unary(cb, async () => {
          await this.#discard(this.#ingestKey(this.#root(call), call.request.ref));
          return create(EmptySchema);
        }),
    };
    server.addService(definition, impl);
    return Object.values(definition).map((m) => m.path);
  }

  #root(call: { metadata: { get(key: string): Array<string | Buffer> } }): string {
    const id = String(call.metadata.get(storeIdKey)[0] ?? '');
    const dir = this.#stores.get(id);
    if (!dir) throw grpcError(grpcStatus.NOT_FOUND, `content store ${JSON.stringify(id)} not found`);
    return dir;
  }

  #unary(cb: sendUnaryData<unknown>, fn: () => Promise<unknown>): void {
    Promise.resolve()
      .then(fn)
      .then(
        (value) => cb(null, value),
        (err: unknown) => cb(asGrpc(err)),
      );
  }

  #blobPath(root: string, digest: string): string {
    const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
    if (!m) throw grpcError(grpcStatus.INVALID_ARGUMENT, `invalid digest ${JSON.stringify(digest)}`);
    return join(root, 'blobs', 'sha256', m[1]!);
  }

  async #info(root: string, digest: string): Promise<Info> {
    const st = await stat(this.#blobPath(root, digest)).catch(() => {
      throw grpcError(grpcStatus.NOT_FOUND, `content digest ${digest}: not found`);
    });
    return create(InfoSchema, {
      digest,
      size: BigInt(st.size),
      createdAt: timestampFromMs(Math.floor(st.ctimeMs)),
      updatedAt: timestampFromMs(Math.floor(st.mtimeMs)),
    });
  }

  async #list(call: ServerWritableStream<unknown, unknown>): Promise<void> {
    try {
      const root = this.#root(call);
      const names = await readdir(join(root, 'blobs', 'sha256')).catch(() => [] as string[]);
      const info = await Promise.all(
        names.map((n) => this.#info(root, `sha256:${n}`).catch(() => undefined)),
      );
      call.write(create(ListContentResponseSchema, { info: info.filter((i): i is Info => i !== undefined) }));
      call.end();
    } catch (err) {
      call.emit('error', asGrpc(err));
    }
  }

  async #read(
    call: ServerWritableStream<{ digest: string; offset: bigint; size: bigint }, unknown>,
  ): Promise<void> {
    try {
      const root = this.#root(call);
      const info = await this.#info(root, call.request.digest);
      const start = Number(call.request.offset);
      const end = call.request.size > 0n ? start + Number(call.request.size) : Number(info.size);
      let offset = start;
      if (end > start) {
        for await (const chunk of createReadStream(this.#blobPath(root, call.request.digest), {
          start,
          end: end - 1,
          highWaterMark: chunkSize,
        })) {
          const data = chunk as Buffer;
          if (!call.write(create(ReadContentResponseSchema, { offset: BigInt(offset), data }))) {
            await new Promise((resolve) => call.once('drain', resolve));
          }
          offset += data.length;
        }
      }
      call.end();
    } catch (err) {
      call.emit('error', asGrpc(err));
    }
  }

  #ingestKey(root: string, ref: string): string {
    return `${root}\0${ref}`;
  }

  async #discard(key: string): Promise<void> {
    const ingest = this.#ingests.get(key);
    if (!ingest) return;
    this.#ingests.delete(key);
    await ingest.handle.close().catch(() => undefined);
    await rm(ingest.path, { force: true });
  }

  async #open(root: string, req: WriteContentRequest): Promise<Ingest> {
    const key = this.#ingestKey(root, req.ref);
    const existing = this.#ingests.get(key);
    if (existing) return existing;
    if (req.expected) {
      const present = await stat(this.#blobPath(root, req.expected)).then(
        () => true,
        () => false,
      );
      if (present) throw grpcError(grpcStatus.ALREADY_EXISTS, `content ${req.expected}: already exists`);
    }
    const dir = join(root, 'ingest');
    await mkdir(dir, { recursive: true });
    const path = join(
      dir,
      `${createHash('sha256').update(req.ref).digest('hex')}-${randomBytes(4).toString('hex')}`,
    );
    const ingest: Ingest = {
      ref: req.ref,
      path,
      handle: await open(path, 'w'),
      hash: createHash('sha256'),
      offset: 0,
      total: Number(req.total),
      expected: req.expected,
      startedAt: Date.now(),
      updatedAt: Date.now(),
    };
    this.#ingests.set(key, ingest);
    return ingest;
  }

  #write(call: ServerDuplexStream<WriteContentRequest, WriteContentResponse>): void {
    let root: string;
    try {
      root = this.#root(call);
    } catch (err) {
      call.emit('error', asGrpc(err));
      return;
    }
    // Requests are handled one at a time, in order. The call is not iterated with `for await`:
    // leaving such a loop destroys the stream before the status (AlreadyExists…) is sent.
    let ingest: Ingest | undefined;
    let finished = false;
    let chain = Promise.resolve();
    const finish = (err?: unknown): void => {
      if (finished) return;
      finished = true;
      if (err) call.emit('error', asGrpc(err));
      else call.end();
    };
    const handle = async (req: WriteContentRequest): Promise<void> => {
      if (finished) return;
      if (!ingest) {
        if (!req.ref) throw grpcError(grpcStatus.INVALID_ARGUMENT, 'first message must have a reference');
        ingest = await this.#open(root, req);
      }
      if (req.total > 0n) ingest.total = Number(req.total);
      if (req.expected) ingest.expected = req.expected;
      if ((req.action === WriteAction.WRITE || req.action === WriteAction.COMMIT) && req.data.length > 0) {
        if (Number(req.offset) !== ingest.offset) {
          throw grpcError(
            grpcStatus.OUT_OF_RANGE,
            `write at ${req.offset}, expected offset ${ingest.offset}`,
          );
        }
        await ingest.handle.write(req.data);
        ingest.hash.update(req.data);
        ingest.offset += req.data.length;
        ingest.updatedAt = Date.now();
      }
      const digest = req.action === WriteAction.COMMIT ? await this.#commit(root, ingest) : '';
      call.write(
        create(WriteContentResponseSchema, {
          action: req.action,
          startedAt: timestampFromMs(ingest.startedAt),
          updatedAt: timestampFromMs(ingest.updatedAt),
          offset: BigInt(ingest.offset),
          total: BigInt(ingest.total),
          digest,
        }),
      );
      if (req.action === WriteAction.COMMIT) finish();
    };
    call.on('data', (req: WriteContentRequest) => {
      chain = chain.then(() => handle(req)).catch(finish);
    });
    call.on('end', () => {
      chain = chain.then(() => finish());
    });
    call.on('error', () => {
      finished = true;
    });
  }

  async #commit(root: string, ingest: Ingest): Promise<string> {
    const key = this.#ingestKey(root, ingest.ref);
    const digest = `sha256:${ingest.hash.copy().digest('hex')}`;
    if (ingest.total > 0 && ingest.offset !== ingest.total) {
      await this.#discard(key);
      throw grpcError(
        grpcStatus.FAILED_PRECONDITION,
        `commit of ${ingest.ref}: ${ingest.offset} bytes written, expected ${ingest.total}`,
      );
    }
    if (ingest.expected && ingest.expected !== digest) {
      await this.#discard(key);
      throw grpcError(
        grpcStatus.FAILED_PRECONDITION,
        `unexpected commit digest ${digest}, expected ${ingest.expected}`,
      );
    }
    this.#ingests.delete(key);
    await ingest.handle.sync();
    await ingest.handle.close();
    const target = this.#blobPath(root, digest);
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
    await rename(ingest.path, target);
    return digest;
  }
}

function statusOf(ingest: Ingest) {
  return create(StatusSchema, {
    ref: ingest.ref,
    offset: BigInt(ingest.offset),
    total: BigInt(ingest.total),
    expected: ingest.expected,
    startedAt: timestampFromMs(ingest.startedAt),
    updatedAt: timestampFromMs(ingest.updatedAt),
  });
}

function asGrpc(err: unknown): Error {
  if (err && typeof err === 'object' && typeof (err as { code?: unknown }).code === 'number')
    return err as Error;
  return grpcError(grpcStatus.UNKNOWN, (err as Error)?.message ?? String(err));
}
