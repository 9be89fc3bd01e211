import { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { FileSend } from '../proto/gen/moby/filesync/v1/filesync_pb.js';
import { Packet_PacketType as PacketType } from '../proto/gen/fsutil/types/wire_pb.js';
import { StatSchema, type Stat } from '../proto/gen/fsutil/types/stat_pb.js';
import { FileSyncProtocolError, FileSyncRemoteError, SessionCanceledError } from './errors.js';
import { GoMode, isRequestable, type FileStat } from './fs-stat.js';
import { methodPath, type Session } from './session.js';
import { walkTree } from './tree-walk.js';
import { decodePacket, encodeBytes, encodePacket, type WirePacket } from './wire-codec.js';

/** fsutil's data chunk size. */
const CHUNK = 32 << 10;
/** Files served concurrently, as fsutil's sender does. */
const WORKERS = 4;

// FileSend.DiffCopy carries fsutil packets in directory mode, not the BytesMessage the proto declares.
const FILE_SEND_PATH = methodPath(FileSend.method.diffCopy);

export interface SendDirectoryOptions {
  /** The tree to send. */
  root: string;
  /** Roots the sent tree under this directory (`linux_amd64` for one platform of several). */
  prefix?: string;
  /** Extra request metadata (HEAD: `buildkit-attachable-exporter-id`). */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Sends a directory to the client with FileSend.DiffCopy in directory mode (`--output
 * type=local`): STATs in fsutil order, then the files the client requests in 32 KiB chunks, then
 * the FIN exchange and a clean half-close. Cost: one lstat per entry plus the requested bytes.
 * Throws MethodNotSupportedError, SessionCallError, SessionEndedError, FileSyncRemoteError,
 * FileSyncProtocolError, SessionCanceledError.
 */
export async function sendDirectory(
  session: Session,
  options: SendDirectoryOptions,
): Promise<SendDirectoryResult> {
  options.signal?.throwIfAborted();
  const tree = await walkTree(options.root, options.prefix ?? '');
  const call = session.open(FILE_SEND_PATH, {
    ...(options.metadata ? { metadata: options.metadata } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const send = (packet: { type: PacketType; ID?: number; data?: Uint8Array; stat?: Stat }): Promise<void> =>
    call.send(encodePacket(packet));
  const files = new Map<number, string>();
  let requested = 0;
  let sentBytes = 0;
  const queue: { id: number; source: string }[] = [];
  const sleepers: (() => void)[] = [];
  const wakeOne = (): void => sleepers.shift()?.();
  let finished = false;
  let failure: unknown;
  const workers: Promise<void>[] = [];
  const serve = async (): Promise<void> => {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const job = queue.shift();
      if (!job) {
        if (finished) return;
        await new Promise<void>((resolve) => sleepers.push(resolve));
        continue;
      }
      const handle = await fsp.open(job.source, 'r');
      try {
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
          if (bytesRead === 0) break;
          sentBytes += bytesRead;
          // encodePacket copies the bytes, so the buffer can be reused for the next chunk.
          await send({ type: PacketType.PACKET_DATA, ID: job.id, data: buffer.subarray(0, bytesRead) });
        }
      } finally {
        await handle.close();
      }
      await send({ type: PacketType.PACKET_DATA, ID: job.id });
    }
  };
  const stop = (): void => {
    finished = true;
    for (const sleeper of sleepers.splice(0)) sleeper();
  };
  const startWorker = (): void => {
    workers.push(
      serve().catch((err: unknown) => {
        failure ??= err;
        stop();
        call.cancel();
      }),
    );
  };
  try {
    if (options.prefix) {
      await send({ type: PacketType.PACKET_STAT, stat: toProtoStat(prefixDir(options.prefix)) });
    }
    const onPacket = async (packet: WirePacket): Promise<boolean> => {
      switch (packet.type) {
        case PacketType.PACKET_REQ: {
          const source = files.get(packet.ID);
          if (source === undefined)
            throw new FileSyncProtocolError({ message: `receiver requested unknown file id ${packet.ID}` });
          files.delete(packet.ID);
          requested++;
          queue.push({ id: packet.ID, source });
          if (workers.length < WORKERS) startWorker();
          else wakeOne();
          return false;
        }
        case PacketType.PACKET_FIN:
          stop();
          await Promise.all(workers);
          if (failure) throw failure;
          await send({ type: PacketType.PACKET_FIN });
          call.end();
          return true;
        case PacketType.PACKET_ERR:
          throw new FileSyncRemoteError({
            side: 'receiver',
            remoteMessage: Buffer.from(packet.data).toString(),
          });
        default:
          throw new FileSyncProtocolError({
            message: `unexpected packet type ${packet.type} from the receiver`,
          });
      }
    };
    // Requests are read while STATs are still going out.
    const reading = (async () => {
      for await (const message of call) {
        if (await onPacket(decodePacket(message))) return;
      }
      throw new FileSyncProtocolError({ message: 'FileSend receiver ended the stream before FIN' });
    })();
    let id = options.prefix ? 1 : 0;
    for (const { stat, source } of tree) {
      if (isRequestable(stat.mode) && !stat.linkname) files.set(id, source);
      id++;
      await send({ type: PacketType.PACKET_STAT, stat: toProtoStat(stat) });
    }
    await send({ type: PacketType.PACKET_STAT });
    await reading;
    for await (const _ of call) {
      // Drain until the client's trailers.
    }
    await call.done;
    return { entries: tree.length + (options.prefix ? 1 : 0), requested, bytes: sentBytes };
  } catch (err) {
    stop();
    call.cancel();
    await Promise.allSettled(workers);
    if (options.signal?.aborted)
      throw new SessionCanceledError({ operation: `sending ${options.root}`, cause: err });
    throw failure ?? err;
  }
}

export interface SendDirectoryResult {
  /** STATs sent. */
  entries: number;
  /** Files the client asked for (it skips those it already has unchanged). */
  requested: number;
  /** File content bytes sent. */
  bytes: number;
}

export interface SendStreamOptions {
  /** Request metadata sent as is, e.g. `{ 'exporter-md-containerimage.digest': 'sha256:…' }`. */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Sends a byte stream (a tar, OCI or Docker archive) to the client with FileSend.DiffCopy in
 * byte-stream mode; the client writes it to its `dest`. Resolves once the client confirmed
 * (status OK) after our half-close. Same errors as sendDirectory.
 */
export async function sendStream(
  session: Session,
  readable: Readable | AsyncIterable<Uint8Array>,
  options: SendStreamOptions = {},
): Promise<void> {
  options.signal?.throwIfAborted();
  const call = session.open(FILE_SEND_PATH, {
    ...(options.metadata ? { metadata: options.metadata } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const draining = (async () => {
    for await (const _ of call) {
      // The client sends nothing back in this mode.
    }
  })();
  draining.catch(() => undefined);
  try {
    for await (const chunk of readable as AsyncIterable<Uint8Array | string>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      for (let offset = 0; offset < bytes.length; offset += 1 << 20) {
        await call.send(encodeBytes(bytes.subarray(offset, offset + (1 << 20))));
      }
    }
    call.end();
    await draining;
    await call.done;
  } catch (err) {
    call.cancel();
    if (options.signal?.aborted)
      throw new SessionCanceledError({ operation: 'sending a stream', cause: err });
    throw err;
  }
}

function prefixDir(path: string): FileStat {
  const modTime = BigInt(Date.now()) * 1_000_000n;
  return {
    path,
    mode: (GoMode.dir | 0o755) >>> 0,
    uid: 0,
    gid: 0,
    size: 0,
    modTime,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: {},
  };
}

function toProtoStat(stat: FileStat): Stat {
  return create(StatSchema, {
    path: stat.path,
    mode: stat.mode >>> 0,
    uid: stat.uid,
    gid: stat.gid,
    size: BigInt(stat.size),
    modTime: stat.modTime,
    linkname: stat.linkname,
    devmajor: BigInt(stat.devmajor),
    devminor: BigInt(stat.devminor),
    xattrs: stat.xattrs,
  });
}
