import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Stat } from '../../proto/gen/fsutil/types/stat_pb.js';
import { PacketSchema, Packet_PacketType as PacketType } from '../../proto/gen/fsutil/types/wire_pb.js';
import { BytesMessageSchema } from '../../proto/gen/moby/filesync/v1/filesync_pb.js';
import { ClientTransferError } from './errors.js';
import { GoMode, StatOrderValidator, isRequestable, posixPermissions } from './fs-stat.js';
import { messages, writeWithBackpressure } from './packet-stream.js';

type RawCall = ServerDuplexStream<Buffer, Buffer>;

/**
 * Nanoseconds as the fractional seconds Node's utimes takes. libuv truncates to whole
 * microseconds; aiming at the middle of the microsecond keeps the double's rounding error (a few
 * hundred ns at today's dates) from landing on the one below, so the result is exact to the µs.
 */
function seconds(ns: bigint): number {
  const micros = (ns % 1_000_000_000n) / 1000n;
  return Number(ns / 1_000_000_000n) + (Number(micros) + 0.5) / 1e6;
}

function tempName(target: string): string {
  return join(dirname(target), `.tmp.${randomBytes(6).toString('hex')}`);
}

async function lstatOrUndefined(path: string) {
  try {
    return await fsp.lstat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Moves `temp` onto `target`, removing a directory that is in the way. */
async function replace(temp: string, target: string): Promise<void> {
  const old = await lstatOrUndefined(target);
  if (old?.isDirectory()) await fsp.rm(target, { recursive: true, force: true });
  await fsp.rename(temp, target);
}

/**
 * The FileSend directory receiver (`--output type=local,dest=DIR`), merging into `dest` like
 * buildctl: directories created (a non-directory in the way is replaced), symlinks created as
 * links, files requested only when missing or different (size, mtime, mode) and written to a
 * temp name then renamed, modes and mtimes applied (directories last); uid/gid are the
 * client's own. Nothing is written through a symlink: every parent was received as a directory.
 */
export async function receiveTree(call: RawCall, dest: string): Promise<void> {
  await fsp.mkdir(dest, { recursive: true, mode: 0o700 });
  const send = (type: PacketType, ID = 0): Promise<void> =>
    writeWithBackpressure(call, Buffer.from(toBinary(PacketSchema, create(PacketSchema, { type, ID }))));
  const validator = new StatOrderValidator();
  const dirs: Stat[] = [];
  const hardlinks: Stat[] = [];
  const writers = new Map<number, { stat: Stat; temp: string; chain: Promise<fsp.FileHandle> }>();
  let id = 0;
  let statsDone = false;
  let finSent = false;
  const maybeFin = async (): Promise<void> => {
    if (!statsDone || writers.size > 0 || finSent) return;
    finSent = true;
    for (const stat of hardlinks) {
      const target = join(dest, stat.path);
      const source = join(dest, stat.linkname);
      const [existing, linked] = await Promise.all([
        lstatOrUndefined(target),
        fsp.lstat(source, { bigint: true }),
      ]);
      // rename() between two links of one inode does nothing, so an existing link must be kept as is.
      if (existing?.ino === linked.ino && existing.dev === linked.dev) continue;
      const temp = tempName(target);
      await fsp.link(source, temp);
      await replace(temp, target);
    }
    for (const stat of dirs.reverse()) {
      const target = join(dest, stat.path);
      await fsp.chmod(target, posixPermissions(stat.mode));
      await fsp.utimes(target, seconds(stat.modTime), seconds(stat.modTime));
    }
    await send(PacketType.PACKET_FIN);
  };

  for await (const raw of messages<Buffer>(call)) {
    const packet = fromBinary(PacketSchema, raw);
    switch (packet.type) {
      case PacketType.PACKET_STAT: {
        const stat = packet.stat;
        if (!stat) {
          statsDone = true;
          await maybeFin();
          break;
        }
        const current = id++;
        const dir = (stat.mode & GoMode.dir) !== 0;
        validator.check(stat.path, dir);
        const target = join(dest, stat.path);
        const old = await lstatOrUndefined(target);
        if (dir) {
          if (old && !old.isDirectory()) await fsp.rm(target, { force: true });
          if (!old?.isDirectory()) await fsp.mkdir(target, { mode: 0o700 });
          dirs.push(stat);
        } else if (stat.mode & GoMode.symlink) {
          const temp = tempName(target);
          await fsp.symlink(stat.linkname, temp);
          await fsp.lutimes(temp, seconds(stat.modTime), seconds(stat.modTime));
          await replace(temp, target);
        } else if (!isRequestable(stat.mode)) {
          // Devices, pipes and sockets are not recreated on the client.
        } else if (stat.linkname) {
          hardlinks.push(stat);
        } else {
          const same =
            old?.isFile() &&
            old.size === stat.size &&
            // Node sets mtimes to the microsecond, so compare at that precision.
            old.mtimeNs / 1000n === stat.modTime / 1000n &&
            Number(old.mode & 0o7777n) === posixPermissions(stat.mode);
          if (same) break;
          const temp = tempName(target);
          const chain = fsp.open(temp, 'wx', 0o600);
          chain.catch(() => undefined);
          writers.set(current, { stat, temp, chain });
          await send(PacketType.PACKET_REQ, current);
        }
        break;
      }
      case PacketType.PACKET_DATA: {
        const writer = writers.get(packet.ID);
        if (!writer)
          throw new ClientTransferError({
            message: `DATA for file id ${packet.ID}, which was not requested`,
          });
        if (packet.data.length > 0) {
          const data = packet.data;
          writer.chain = writer.chain.then(async (h) => {
            await h.write(data);
            return h;
          });
          writer.chain.catch(() => undefined);
          break;
        }
        writers.delete(packet.ID);
        const handle = await writer.chain;
        await handle.chmod(posixPermissions(writer.stat.mode));
        await handle.utimes(seconds(writer.stat.modTime), seconds(writer.stat.modTime));
        await handle.close();
        await replace(writer.temp, join(dest, writer.stat.path));
        await maybeFin();
        break;
      }
      case PacketType.PACKET_FIN:
        break;
      case PacketType.PACKET_ERR:
        throw new ClientTransferError({
          message: `error from sender: ${Buffer.from(packet.data).toString()}`,
          kind: 'failed-precondition',
        });
      default:
        throw new ClientTransferError({ message: `unexpected packet type ${packet.type} from the sender` });
    }
  }
  if (!finSent)
    throw new ClientTransferError({ message: 'FileSend sender ended before the transfer was complete' });
}

/** The FileSend byte-stream receiver (`type=tar|oci|docker`): writes the data to a file or a Writable. */
export async function receiveStream(call: RawCall, output: string | Writable): Promise<void> {
  const sink: Writable =
    typeof output === 'string'
      ? (await import('node:fs')).createWriteStream(output, { mode: 0o644 })
      : output;
  for await (const raw of messages<Buffer>(call)) {
    const { data } = fromBinary(BytesMessageSchema, raw);
    if (data.length > 0) await writeWithBackpressure(sink, data);
  }
  if (typeof output === 'string') {
    await new Promise<void>((resolve, reject) => {
      sink.once('error', reject);
      sink.end(() => resolve());
    });
  }
}
