import type { Http2Session } from 'node:http2';
import { Duplex } from 'node:stream';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { BytesMessage } from '../proto/gen/moby/buildkit/v1/control_pb.js';

/** The `Control.Session` call as the daemon's gRPC server hands it over (protobuf-es messages). */
export type SessionCall = ServerDuplexStream<BytesMessage, BytesMessage>;

/**
 * The byte stream carried by a `Control.Session` call, as a Duplex: each incoming
 * `BytesMessage.data` is pushed in order, each write becomes one outgoing `BytesMessage`.
 * Backpressure both ways: a full call buffer delays the write callback until `drain`, and a
 * full readable buffer pauses the call. Ending the duplex ends the call with status OK.
 */
export function tunnelDuplex(call: SessionCall): Duplex {
  widenReceiveWindow(call);
  let waitingDrain: (() => void) | undefined;
  const duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      if (call.isPaused()) call.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      const message: BytesMessage = { $typeName: 'moby.buildkit.v1.BytesMessage', data: chunk };
      if (call.write(message)) {
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

/** Receive window asked for on the connection that carries a session (bytes). */
const TUNNEL_WINDOW = 32 << 20;

/**
 * Best effort: widen the HTTP/2 receive windows of the connection carrying the session. grpc-js
 * servers keep HTTP/2's 64 KiB defaults and offer no option, which caps a context transfer at
 * one window per round trip through the client; the stream is reached through grpc-js
 * internals, so any change there just leaves the defaults in place.
 */
export function widenReceiveWindow(call: SessionCall): void {
  try {
    let node: unknown = (call as unknown as { call?: unknown }).call;
    for (let depth = 0; node && depth < 4; depth++) {
      const stream = (node as { stream?: { session?: Http2Session } }).stream;
      const session = stream?.session;
      if (session && typeof session.setLocalWindowSize === 'function') {
        if ((session.state.localWindowSize ?? 0) < TUNNEL_WINDOW) session.setLocalWindowSize(TUNNEL_WINDOW);
        // localSettings change only once the client acknowledges; sessions opened before that
        // must not send the SETTINGS again: past ten unacknowledged ones Node destroys the
        // connection, and with it every build on it (eleven concurrent builds all failed).
        if (!session.pendingSettingsAck && (session.localSettings.initialWindowSize ?? 0) < 4 << 20)
          session.settings({ initialWindowSize: 4 << 20 });
        return;
      }
      node = (node as { nextCall?: unknown; call?: unknown }).nextCall ?? (node as { call?: unknown }).call;
    }
  } catch {
    // Internals changed: the defaults still work, only slower.
  }
}

function endCall(call: SessionCall): void {
  try {
    if (!call.writableEnded && !call.destroyed && !call.cancelled) call.end();
  } catch {
    // The call was already torn down by the client; nothing is left to close.
  }
}
