// Test-only: a minimal BuildKit daemon (Control + LLBBridge) around SessionManager, enough for
// a real buildctl's `build` and for kiln's own client. Not exported from index.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import {
  Server,
  ServerCredentials,
  status,
  type MethodDefinition,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { grpcServiceDefinition } from '../proto/index.js';
import {
  Control,
  ListWorkersResponseSchema,
  SolveResponseSchema,
  type SolveRequest,
  type SolveResponse,
  type StatusRequest,
  type StatusResponse,
} from '../proto/gen/moby/buildkit/v1/control_pb.js';
import {
  LLBBridge,
  PongResponseSchema,
  ReturnResponseSchema,
  SolveResponseSchema as GatewaySolveResponseSchema,
  type ReturnRequest,
  type SolveRequest as GatewaySolveRequest,
} from '../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import { APICapSchema } from '../proto/gen/moby/buildkit/v1/apicaps/caps_pb.js';
import { WorkerRecordSchema } from '../proto/gen/moby/buildkit/v1/types/worker_pb.js';
import type { Session } from './session.js';
import { SessionManager } from './session-manager.js';
import type { SessionCall } from './tunnel.js';
import { bytesMessageCodec } from './wire-codec.js';

export interface TestDaemonHooks {
  /** LLBBridge.Solve with a frontend: pull what the build needs through the session. */
  frontendSolve?: (ctx: { session: Session; ref: string; request: GatewaySolveRequest }) => Promise<void>;
  /** After Return: run the exporter; the result is the exporter response. */
  exporter?: (ctx: {
    session: Session;
    exporter: string;
    attrs: Record<string, string>;
  }) => Promise<Record<string, string>>;
}

interface Job {
  sessionId: Promise<string>;
  setSession: (id: string) => void;
  returned: Promise<void>;
  setReturned: (err?: Error) => void;
  done: Promise<void>;
  setDone: () => void;
}

function grpcError(code: number, details: string): Error & { code: number; details: string } {
  return Object.assign(new Error(details), { code, details });
}

const KIND_TO_CODE: Record<string, number> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  'not-found': status.NOT_FOUND,
  'already-exists': status.ALREADY_EXISTS,
  'failed-precondition': status.FAILED_PRECONDITION,
  unavailable: status.UNAVAILABLE,
  canceled: status.CANCELLED,
  unimplemented: status.UNIMPLEMENTED,
};

function toGrpc(err: unknown): Error & { code: number; details: string } {
  const kind = (err as { kind?: string }).kind ?? '';
  return grpcError(KIND_TO_CODE[kind] ?? status.UNKNOWN, (err as Error).message);
}

export interface TestDaemon {
  address: string;
  socket: string;
  manager: SessionManager;
  close(): Promise<void>;
}

export async function startTestDaemon(hooks: TestDaemonHooks = {}): Promise<TestDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-testd-'));
  const socket = join(dir, 'kiln.sock');
  const manager = new SessionManager();
  const jobs = new Map<string, Job>();
  const job = (ref: string): Job => {
    let found = jobs.get(ref);
    if (!found) {
      let setSession!: (id: string) => void;
      let setReturned!: (err?: Error) => void;
      let setDone!: () => void;
      const sessionId = new Promise<string>((resolve) => (setSession = resolve));
      const returned = new Promise<void>(
        (resolve, reject) => (setReturned = (err) => (err ? reject(err) : resolve())),
      );
      returned.catch(() => undefined);
      const done = new Promise<void>((resolve) => (setDone = resolve));
      found = { sessionId, setSession, returned, setReturned, done, setDone };
      jobs.set(ref, found);
    }
    return found;
  };
  const buildId = (call: { metadata: { get(key: string): (string | Buffer)[] } }): string =>
    String(call.metadata.get('buildkit-controlapi-buildid')[0] ?? '');
  const worker = create(WorkerRecordSchema, {
    ID: 'kiln-test',
    platforms: [{ OS: 'linux', Architecture: 'amd64' }],
  });

  const server = new Server();
  const generated = grpcServiceDefinition(Control);
  const control = {
    ...generated,
    session: {
      ...(generated['session'] as MethodDefinition<object, object>),
      requestDeserialize: bytesMessageCodec.deserialize,
      responseSerialize: bytesMessageCodec.serialize as (m: object) => Buffer,
    },
  };
  server.addService(control, {
    session: (call: SessionCall) => {
      manager.accept(call).catch((err: unknown) => call.emit('error', toGrpc(err)));
    },
    listWorkers: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
      callback(null, create(ListWorkersResponseSchema, { record: [worker] })),
    status: (call: ServerWritableStream<StatusRequest, StatusResponse>) => {
      void job(call.request.Ref).done.then(() => call.end());
    },
    solve: (call: ServerUnaryCall<SolveRequest, SolveResponse>, callback: sendUnaryData<SolveResponse>) => {
      const { Ref, Session: sessionId, Exporter, ExporterAttrs } = call.request;
      const j = job(Ref);
      j.setSession(sessionId);
      (async () => {
        await j.returned;
        let response: Record<string, string> = {};
        if (Exporter && hooks.exporter) {
          const session = await manager.get(sessionId);
          response = await hooks.exporter({ session, exporter: Exporter, attrs: { ...ExporterAttrs } });
        }
        return create(SolveResponseSchema, { ExporterResponse: response });
      })().then(
        (response) => {
          j.setDone();
          callback(null, response);
        },
        (err: unknown) => {
          j.setDone();
          callback(toGrpc(err));
        },
      );
    },
  });
  const caps = ['solve.base', 'return', 'proto.refarray', 'returnmap'].map((ID) =>
    create(APICapSchema, { ID, Enabled: true }),
  );
  server.addService(grpcServiceDefinition(LLBBridge), {
    ping: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
      callback(null, create(PongResponseSchema, { FrontendAPICaps: caps, Workers: [worker] })),
    solve: (call: ServerUnaryCall<GatewaySolveRequest, unknown>, callback: sendUnaryData<unknown>) => {
      const ref = buildId(call);
      (async () => {
        const sessionId = await job(ref).sessionId;
        const session = await manager.get(sessionId);
        await hooks.frontendSolve?.({ session, ref, request: call.request });
      })().then(
        () =>
          callback(
            null,
            create(GatewaySolveResponseSchema, {
              result: { result: { case: 'ref', value: { id: 'result-0' } } },
            }),
          ),
        (err: unknown) => callback(toGrpc(err)),
      );
    },
    return: (call: ServerUnaryCall<ReturnRequest, unknown>, callback: sendUnaryData<unknown>) => {
      const j = job(buildId(call));
      const error = call.request.error;
      j.setReturned(error && error.code !== 0 ? grpcError(error.code, error.message) : undefined);
      callback(null, create(ReturnResponseSchema, {}));
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  return {
    address: `unix://${socket}`,
    socket,
    manager,
    close: async () => {
      manager.close();
      server.forceShutdown();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
