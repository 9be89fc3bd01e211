import { Duplex } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { BytesMessageSchema, type BytesMessage } from '../proto/gen/moby/buildkit/v1/control_pb.js';

/** The `Control.Session` call as the daemon's gRPC server hands it over (protobuf-es messages). */
export type SessionCall = ServerDuplexStream<BytesMessage, BytesMessage>;

/**
 * The byte stream carried by a `Control.Session` call, as a Duplex: each incoming
 * `BytesMessage.data` is pushed in order, each write becomes one outgoing `BytesMessage`.
 * Backpressure both ways: a full call buffer delays the write callback until `drain`, and a
 * full readable buffer pauses the call. Ending the duplex ends the call with status OK.
 */
export function tunnelDuplex(call: SessionCall): Duplex {
  let waitingDrain: (() => void) | undefined;
  const duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      if (call.isPaused()) call.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      if (call.write(create(BytesMessageSchema, { data: chunk }))) {
        callback();
        return;
      }
      waitingDrain = () => {
        waitingDrain = undefined;
        callback();
      };
      call.once('drain', waitingDrain);
    },
    final(callback) {
      endCall(call);
      callback();
    },
    destroy(err, callback) {
      if (waitingDrain) call.off('drain', waitingDrain);
      endCall(call);
      callback(err);
    },
  });
  call.on('data', (message: BytesMessage) => {
    if (message.data.length > 0 && !duplex.push(message.data)) call.pause();
  });
  call.on('end', () => duplex.push(null));
  call.on('error', (err) => duplex.destroy(err));
  call.on('close', () => {
    if (!duplex.readableEnded) duplex.push(null);
  });
  return duplex;
}

function endCall(call: SessionCall): void {
  try {
    if (!call.writableEnded && !call.destroyed && !call.cancelled) call.end();
  } catch {
    // The call was already torn down by the client; nothing is left to close.
  }
}
