import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { PassThrough, Writable } from 'node:stream';
import { StatusSchema } from '../../proto/gen/google/rpc/status_pb.js';
import {
  ExecMessageSchema,
  type ExecMessage,
  type InitMessage,
} from '../../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import { SecurityMode } from '../../proto/gen/pb/ops_pb.js';
import type { GatewayContainers } from './containers.js';
import { FrontendProtocolError } from './errors.js';
import type { GatewayErrorMapping } from './bridge-service.js';

/** The exit code reported when a process could not run at all (as BuildKit's UnknownExitStatus). */
const unknownExitStatus = 255;

type ExecCall = ServerDuplexStream<ExecMessage, ExecMessage>;

/** Sends messages on the stream, waiting for drain when the stream is full. */
function sender(call: ExecCall): (message: MessageInitShape<typeof ExecMessageSchema>) => Promise<void> {
  return (message) => {
    if (call.destroyed || call.writableEnded) return Promise.resolve();
    if (call.write(create(ExecMessageSchema, message))) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        call.off('drain', done);
        call.off('close', done);
        resolve();
      };
      call.on('drain', done);
      call.on('close', done);
    });
  };
}

/** A Writable that forwards a process's output as File messages of `fd`. */
function outputStream(send: ReturnType<typeof sender>, pid: string, fd: number): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      send({ ProcessID: pid, Input: { case: 'File', value: { Fd: fd, Data: chunk } } }).then(
        () => callback(),
        callback,
      );
    },
  });
}

function finished(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    stream.end(() => resolve());
  });
}

/**
 * Serves one ExecProcess stream: each Init starts a process in a container (stdin from File
 * messages of fd 0 when asked for, stdout and stderr back as File messages of fds 1 and 2), and
 * the client hears Started, its output, an EOF per output, Exit and Done, as BuildKit sends them.
 * A Signal message kills the process (only killing is supported). The stream ends once the client
 * has half-closed it and every process has finished; closing it kills what still runs.
 */
export function serveExecProcess(opts: {
  call: ExecCall;
  containers: GatewayContainers;
  errors: GatewayErrorMapping;
  signal: AbortSignal;
  onActivity: (delta: 1 | -1) => void;
}): void {
  const { call, containers } = opts;
  const send = sender(call);
  const processes = new Map<string, { stdin?: PassThrough; abort: AbortController }>();
  let inputEnded = false;
  const maybeEnd = (): void => {
    if (inputEnded && processes.size === 0 && !call.writableEnded) call.end();
  };
  const fail = (err: unknown): void => {
    call.destroy(opts.errors.toServiceError(err));
  };

  const start = (pid: string, init: InitMessage): void => {
    const fds = new Set(init.Fds);
    const stdin = fds.has(0) ? new PassThrough() : undefined;
    const abort = new AbortController();
    const onJobAbort = (): void => abort.abort(opts.signal.reason);
    opts.signal.addEventListener('abort', onJobAbort, { once: true });
    processes.set(pid, { ...(stdin ? { stdin } : {}), abort });
    const stdout = outputStream(send, pid, 1);
    const stderr = outputStream(send, pid, 2);
    opts.onActivity(1);
    const run = async (): Promise<void> => {
      await send({ ProcessID: pid, Input: { case: 'Started', value: {} } });
      let code = 0;
      let error: unknown;
      try {
        code = await containers.run(init.ContainerID, {
          args: init.Meta?.args ?? [],
          env: init.Meta?.env ?? [],
          cwd: init.Meta?.cwd ?? '/',
          user: init.Meta?.user ?? '',
          insecure: init.Security === SecurityMode.INSECURE,
          ...(stdin ? { stdin } : {}),
          stdout,
          stderr,
          signal: abort.signal,
        });
      } catch (err) {
        error = err;
        code = unknownExitStatus;
      }
      await Promise.all([finished(stdout), finished(stderr)]);
      for (const fd of [1, 2]) {
        if (fds.has(fd))
          await send({ ProcessID: pid, Input: { case: 'File', value: { Fd: fd, EOF: true } } });
      }
      const status = error
        ? (() => {
            const e = opts.errors.toServiceError(error);
            return create(StatusSchema, { code: e.code, message: e.details });
          })()
        : code !== 0
          ? create(StatusSchema, { code: 2, message: `exit code: ${code}` })
          : undefined;
      await send({
        ProcessID: pid,
        Input: { case: 'Exit', value: { Code: code, ...(status ? { Error: status } : {}) } },
      });
      await send({ ProcessID: pid, Input: { case: 'Done', value: {} } });
    };
    void run()
      .catch(fail)
      .finally(() => {
        opts.signal.removeEventListener('abort', onJobAbort);
        processes.delete(pid);
        opts.onActivity(-1);
        maybeEnd();
      });
  };

  call.on('data', (message: ExecMessage) => {
    const pid = message.ProcessID;
    if (!pid) return fail(new FrontendProtocolError('ExecProcess message without a ProcessID'));
    const input = message.Input;
    const process = processes.get(pid);
    switch (input.case) {
      case 'Init':
        if (process)
          return fail(new FrontendProtocolError(`process ${pid} already exists`, 'already-exists'));
        return start(pid, input.value);
      case 'File':
        if (!process) return fail(new FrontendProtocolError(`no process ${pid} to write to`, 'not-found'));
        if (input.value.Fd !== 0 || !process.stdin) return;
        if (input.value.Data.length > 0) process.stdin.write(input.value.Data);
        if (input.value.EOF) process.stdin.end();
        return;
      case 'Signal':
        if (!process) return fail(new FrontendProtocolError(`no process ${pid} to signal`, 'not-found'));
        process.abort.abort(new Error(`process ${pid} killed by signal ${input.value.Name}`));
        return;
      default:
        // Resize (no terminals here) and server-side messages are ignored.
        return;
    }
  });
  call.on('end', () => {
    inputEnded = true;
    maybeEnd();
  });
  call.on('error', () => undefined);
  call.on('close', () => {
    for (const p of processes.values()) p.abort.abort(new Error('the ExecProcess stream closed'));
  });
}
