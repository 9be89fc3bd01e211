import { promises as fsp } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import {
  PacketSchema,
  Packet_PacketType as PacketType,
  type Packet,
} from '../../proto/gen/fsutil/types/wire_pb.js';
import { ClientTransferError } from './errors.js';
import { isRequestable } from './fs-stat.js';
import { messages, writeWithBackpressure } from './packet-stream.js';
import { walkDirectory, type WalkOptions } from './walk.js';

const CHUNK = 32 << 10;
const WORKERS = 4;

/**
 * The fsutil sender (FileSync.DiffCopy, client side): STATs of the walked tree, then an empty
 * packet; serves the receiver's REQs with 32 KiB DATA packets (4 files at a time); answers its
 * FIN with FIN and ends the call. Rejects on PACKET_ERR or a bad REQ.
 */
export async function sendTree(
  call: ServerDuplexStream<Packet, Packet>,
  dir: string,
  options: WalkOptions,
): Promise<void> {
  const write = (packet: {
    type: PacketType;
    ID?: number;
    data?: Uint8Array;
    stat?: Packet['stat'];
  }): Promise<void> => writeWithBackpressure(call, create(PacketSchema, packet));
  const files = new Map<number, string>();
  const queue: { id: number; source: string }[] = [];
  const sleepers: (() => void)[] = [];
  const workers: Promise<void>[] = [];
  let finished = false;
  let failure: unknown;
  const stop = (): void => {
    finished = true;
    for (const s of sleepers.splice(0)) s();
  };
  const serve = async (): Promise<void> => {
    for (;;) {
      const job = queue.shift();
      if (!job) {
        if (finished) return;
        await new Promise<void>((resolve) => sleepers.push(resolve));
        continue;
      }
      try {
        const handle = await fsp.open(job.source, 'r');
        try {
          for (;;) {
            const buffer = Buffer.allocUnsafe(CHUNK);
            const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
            if (bytesRead === 0) break;
            await write({ type: PacketType.PACKET_DATA, ID: job.id, data: buffer.subarray(0, bytesRead) });
          }
        } finally {
          await handle.close();
        }
      } catch (err) {
        // fsutil sends what it has and ends the file; a vanished file arrives empty.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      await write({ type: PacketType.PACKET_DATA, ID: job.id });
    }
  };
  const reading = (async () => {
    for await (const packet of messages<Packet>(call)) {
      switch (packet.type) {
        case PacketType.PACKET_REQ: {
          const source = files.get(packet.ID);
          if (source === undefined)
            throw new ClientTransferError({ message: `invalid file id ${packet.ID}` });
          files.delete(packet.ID);
          queue.push({ id: packet.ID, source });
          if (workers.length < WORKERS) {
            workers.push(
              serve().catch((err: unknown) => {
                failure ??= err;
                stop();
              }),
            );
          } else sleepers.shift()?.();
          break;
        }
        case PacketType.PACKET_FIN:
          stop();
          await Promise.all(workers);
          if (failure) throw failure;
          await write({ type: PacketType.PACKET_FIN });
          return;
        case PacketType.PACKET_ERR:
          throw new ClientTransferError({
            message: `error from receiver: ${Buffer.from(packet.data).toString()}`,
            kind: 'failed-precondition',
          });
        default:
          break;
      }
    }
  })();
  reading.catch(() => undefined);
  try {
    let id = 0;
    await walkDirectory(dir, options, async ({ stat, source }) => {
      if (isRequestable(stat.mode) && !stat.linkname) files.set(id, source);
      id++;
      await write({ type: PacketType.PACKET_STAT, stat });
    });
    await write({ type: PacketType.PACKET_STAT });
  } catch (err) {
    await write({ type: PacketType.PACKET_ERR, data: Buffer.from((err as Error).message) }).catch(
      () => undefined,
    );
    stop();
    throw err;
  }
  await reading;
}
