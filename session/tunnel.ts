import type { ServerHttp2Stream } from 'node:http2';
import { Duplex } from 'node:stream';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { BytesMessage } from '../proto/gen/moby/buildkit/v1/control_pb.js';
import { MessageDecoder } from './grpc-frame.js';
import { decodeBytes } from './wire-codec.js';

/** The `Control.Session` call as the daemon's gRPC server hands it over (protobuf-es messages). */
export type SessionCall = ServerDuplexStream<BytesMessage, BytesMessage>;

/**
 * The byte stream carried by a `Control.Session` call, as a Duplex: each incoming
 * `BytesMessage.data` is pushed in order, each write becomes one outgoing `BytesMessage`.
 * Backpressure both ways: a full call buffer delays the write callback until `drain`, and a
 * full readable buffer pauses the incoming stream. Ending the duplex ends the call with status OK.
 *
 * Incoming messages are read straight off the call's HTTP/2 stream when grpc-js lets us reach
 * it: grpc-js pauses and resumes the stream and goes through a promise for every message, and a
 * context transfer is some 20,000 small messages (a quarter of kilnd's CPU for the transfer).
 * Where the stream cannot be reached (or `direct: false`), the call's own message events are used.
 */
export function tunnelDuplex(call: SessionCall, options: { direct?: boolean } = {}): Duplex {
  const stream = options.direct === false ? undefined : http2StreamOf(call);
  if (stream) widenReceiveWindow(stream);
  let waitingDrain: (() => void) | undefined;
  let resumeSource = (): void => {};
  const duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      resumeSource();
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
  resumeSource = stream ? readFrames(stream, duplex) : readMessages(call, duplex);
  call.on('error', (err) => duplex.destroy(err));
  call.on('close', () => {
    if (!duplex.readableEnded) duplex.push(null);
  });
  return duplex;
}

/** Pushes each message's bytes into `duplex`; returns what resumes the call after backpressure. */
function readMessages(call: SessionCall, duplex: Duplex): () => void {
  call.on('data', (message: BytesMessage) => {
    if (message.data.length > 0 && !duplex.push(message.data)) call.pause();
  });
  call.on('end', () => duplex.push(null));
  return () => {
    if (call.isPaused()) call.resume();
  };
}

/**
 * Takes the stream's DATA away from grpc-js and pushes each message's bytes into `duplex`;
 * returns what resumes the stream after backpressure.
 */
function readFrames(stream: ServerHttp2Stream, duplex: Duplex): () => void {
  // grpc-js's listener would queue every message for the call; nothing else listens for data.
  stream.removeAllListeners('data');
  const decoder = new MessageDecoder();
  let full = false;
  const pushMessage = (message: Buffer): void => {
    const data = decodeBytes(message);
    if (data.length > 0 && !duplex.push(data)) full = true;
  };
  stream.on('data', (chunk: Buffer) => {
    try {
      decoder.push(chunk, pushMessage);
    } catch (err) {
      duplex.destroy(new Error(`session tunnel: bad message from the client: ${(err as Error).message}`));
      return;
    }
    if (full) {
      full = false;
      stream.pause();
    }
  });
  stream.on('end', () => duplex.push(null));
  return () => {
    if (stream.isPaused()) stream.resume();
  };
}

/** Receive window asked for on the connection that carries a session (bytes). */
const TUNNEL_WINDOW = 32 << 20;

/**
 * Widens the HTTP/2 receive windows of the connection carrying the session. grpc-js servers keep
 * HTTP/2's 64 KiB defaults and offer no option, which caps a context transfer at one window per
 * round trip through the client.
 */
function widenReceiveWindow(stream: ServerHttp2Stream): void {
  const session = stream.session;
  if (!session || session.destroyed) return;
  try {
    if ((session.state.localWindowSize ?? 0) < TUNNEL_WINDOW) session.setLocalWindowSize(TUNNEL_WINDOW);
    // localSettings change only once the client acknowledges; sessions opened before that must
    // not send the SETTINGS again: past ten unacknowledged ones Node destroys the connection,
    // and with it every build on it (eleven concurrent builds all failed).
    if (!session.pendingSettingsAck && (session.localSettings.initialWindowSize ?? 0) < 4 << 20)
      session.settings({ initialWindowSize: 4 << 20 });
  } catch {
    // Only an optimisation: the default windows still work, only slower.
  }
}

/**
 * The HTTP/2 stream under a grpc-js server call, reached through grpc-js internals (checked by
 * tunnel.test.ts against the pinned version); undefined when they have changed.
 */
export function http2StreamOf(call: SessionCall): ServerHttp2Stream | undefined {
  try {
    let node: unknown = (call as unknown as { call?: unknown }).call;
    for (let depth = 0; node && depth < 4; depth++) {
      const stream = (node as { stream?: ServerHttp2Stream }).stream;
      if (stream?.session && typeof stream.session.setLocalWindowSize === 'function') return stream;
      node = (node as { nextCall?: unknown; call?: unknown }).nextCall ?? (node as { call?: unknown }).call;
    }
  } catch {
    // Internals changed: fall through to the call's public events.
  }
  return undefined;
}

function endCall(call: SessionCall): void {
  try {
    if (!call.writableEnded && !call.destroyed && !call.cancelled) call.end();
  } catch {
    // The call was already torn down by the client; nothing is left to close.
  }
}
