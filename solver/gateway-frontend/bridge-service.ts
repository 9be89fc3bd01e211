import { create } from '@bufbuild/protobuf';
import type {
  handleBidiStreamingCall,
  handleUnaryCall,
  ServiceError,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Status } from '../../proto/gen/google/rpc/status_pb.js';
import {
  EvaluateResponseSchema,
  InputsResponseSchema,
  NewContainerResponseSchema,
  PongResponseSchema,
  ReadDirResponseSchema,
  ReadFileResponseSchema,
  ReleaseContainerResponseSchema,
  ResolveImageConfigResponseSchema,
  ReturnResponseSchema,
  SolveResponseSchema,
  StatFileResponseSchema,
  WarnResponseSchema,
  type ExecMessage,
  type EvaluateRequest,
  type NewContainerRequest,
  type ReadDirRequest,
  type ReadFileRequest,
  type ReleaseContainerRequest,
  type ResolveImageConfigRequest,
  type ReturnRequest,
  type SolveRequest,
  type StatFileRequest,
  type WarnRequest,
} from '../../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import type { WorkerRecord } from '../../proto/gen/moby/buildkit/v1/types/worker_pb.js';
import type { GatewayClient, GatewayResult } from '../gateway-client.js';
import type { JobGateway } from '../gateway.js';
import type { GatewayContainers } from './containers.js';
import { fromPbPlatform, resultRefs, toPbResult, toPbStat } from './conversions.js';
import { FrontendProtocolError } from './errors.js';
import { serveExecProcess } from './exec-process.js';

/**
 * How errors cross the frontend's gRPC connection; the daemon supplies its own mapping, so the
 * kind → status table stays in one place.
 */
export interface GatewayErrorMapping {
  /** An error as the status grpc-js sends (code from its kind, typed details in the trailers). */
  toServiceError(err: unknown): ServiceError;
  /** The error a frontend reported in Return, kind and typed details kept. */
  fromStatus(status: Status): Error;
}

export interface FrontendBridgeOptions {
  readonly client: GatewayClient;
  readonly gateway: JobGateway;
  readonly containers: GatewayContainers;
  readonly errors: GatewayErrorMapping;
  readonly gatewayCaps: ReadonlyArray<{ readonly id: string; readonly deprecated?: boolean }>;
  readonly llbCaps: ReadonlyArray<{ readonly id: string; readonly enabled: boolean }>;
  readonly worker: WorkerRecord;
  /** Aborted when the frontend run ends or the job is cancelled. */
  readonly signal: AbortSignal;
}

/**
 * The LLBBridge one frontend container is served: every call goes to the job's gateway client,
 * refs are those this frontend was handed, and `Return` settles `result`. It counts calls in
 * flight so the run can tell a frontend that waits on a build from one that hangs.
 */
export class FrontendBridge {
  /** Settles on Return: the frontend's result, or the error it reported or committed. */
  readonly result: Promise<GatewayResult>;
  readonly #opts: FrontendBridgeOptions;
  readonly #refs = new Set<string>();
  #settle!: { resolve: (r: GatewayResult) => void; reject: (e: unknown) => void };
  #returned = false;
  #inFlight = 0;
  #lastActivity = Date.now();

  constructor(opts: FrontendBridgeOptions) {
    this.#opts = opts;
    this.result = new Promise<GatewayResult>((resolve, reject) => (this.#settle = { resolve, reject }));
    this.result.catch(() => undefined);
  }

  get returned(): boolean {
    return this.#returned;
  }

  /** Milliseconds since the last call ended; 0 while one is in flight. */
  idleMs(now = Date.now()): number {
    return this.#inFlight > 0 ? 0 : now - this.#lastActivity;
  }

  #activity(delta: 1 | -1): void {
    this.#inFlight += delta;
    this.#lastActivity = Date.now();
  }

  /** Throws unless `id` names a result this frontend was given ('' is the empty result). */
  checkRef(id: string): void {
    if (id !== '' && !this.#refs.has(id)) {
      throw new FrontendProtocolError(
        `no such ref ${JSON.stringify(id)}: the frontend was never given it`,
        'not-found',
      );
    }
  }

  #unary<Req, Res>(handler: (request: Req) => Promise<Res>): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      this.#activity(1);
      handler(call.request)
        .then(
          (response) => callback(null, response),
          (err: unknown) => callback(this.#opts.errors.toServiceError(err)),
        )
        .finally(() => this.#activity(-1));
    };
  }

  #settleWith(outcome: { result: GatewayResult } | { error: unknown }): void {
    if (this.#returned) {
      throw new FrontendProtocolError('the frontend returned a second time', 'failed-precondition');
    }
    this.#returned = true;
    if ('result' in outcome) this.#settle.resolve(outcome.result);
    else this.#settle.reject(outcome.error);
  }

  #return(request: ReturnRequest): void {
    if (request.error && request.error.code !== 0) {
      this.#settleWith({ error: this.#opts.errors.fromStatus(request.error) });
      return;
    }
    const { ref, refs } = resultRefs(request.result);
    const metadata = new Map(Object.entries(request.result?.metadata ?? {}));
    try {
      for (const id of [...(ref !== undefined ? [ref] : []), ...(refs?.values() ?? [])]) this.checkRef(id);
    } catch (err) {
      // A result that names refs it never had fails the build with that, not with a crash later.
      this.#settleWith({ error: err });
      throw err;
    }
    this.#settleWith({
      result: {
        ...(ref !== undefined ? { ref: { id: ref } } : {}),
        ...(refs ? { refs: new Map([...refs].map(([k, id]) => [k, { id }])) } : {}),
        metadata,
      },
    });
  }

  async #solve(request: SolveRequest) {
    const { client, gateway } = this.#opts;
    const result = await client.solve(
      {
        ...(request.Definition ? { definition: request.Definition } : {}),
        ...(request.Frontend ? { frontend: request.Frontend } : {}),
        frontendOpt: { ...request.FrontendOpt },
        frontendInputs: new Map(Object.entries(request.FrontendInputs)),
      },
      this.#opts.signal,
    );
    if (result.ref) this.#refs.add(result.ref.id);
    for (const r of result.refs?.values() ?? []) this.#refs.add(r.id);
    if (request.Final) {
      // The legacy inline return: the solved result, with ExporterAttr as its metadata, is the build's.
      const attrs = request.ExporterAttr.length
        ? (JSON.parse(Buffer.from(request.ExporterAttr).toString('utf8')) as Record<string, string>)
        : {};
      const metadata = new Map(Object.entries(attrs).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
      this.#settleWith({ result: { ...result, metadata } });
    }
    if (!request.allowResultReturn) return create(SolveResponseSchema, { ref: result.ref?.id ?? '' });
    return create(SolveResponseSchema, { result: toPbResult(result, (r) => gateway.definitionOf(r)) });
  }

  /** The LLBBridge service implementation for grpc-js. */
  service(): UntypedServiceImplementation {
    const { client, gateway, containers, errors } = this.#opts;
    return {
      ping: this.#unary(async () =>
        create(PongResponseSchema, {
          FrontendAPICaps: this.#opts.gatewayCaps.map((c) => ({
            ID: c.id,
            Enabled: true,
            Deprecated: c.deprecated ?? false,
          })),
          LLBCaps: this.#opts.llbCaps.map((c) => ({ ID: c.id, Enabled: c.enabled })),
          Workers: [this.#opts.worker],
        }),
      ),
      solve: this.#unary((request: SolveRequest) => this.#solve(request)),
      return: this.#unary(async (request: ReturnRequest) => {
        this.#return(request);
        return create(ReturnResponseSchema);
      }),
      readFile: this.#unary(async (request: ReadFileRequest) => {
        this.checkRef(request.Ref);
        const range = request.Range
          ? { offset: Number(request.Range.Offset), length: Number(request.Range.Length) }
          : undefined;
        return create(ReadFileResponseSchema, {
          Data: await client.readFile({ id: request.Ref }, request.FilePath, range),
        });
      }),
      readDir: this.#unary(async (request: ReadDirRequest) => {
        this.checkRef(request.Ref);
        const entries = await client.readDir(
          { id: request.Ref },
          request.DirPath,
          request.IncludePattern || undefined,
        );
        return create(ReadDirResponseSchema, { entries: entries.map(toPbStat) });
      }),
      statFile: this.#unary(async (request: StatFileRequest) => {
        this.checkRef(request.Ref);
        return create(StatFileResponseSchema, {
          stat: toPbStat(await client.statFile({ id: request.Ref }, request.Path)),
        });
      }),
      resolveImageConfig: this.#unary(async (request: ResolveImageConfigRequest) => {
        if (request.ResolverType !== 0) {
          throw new FrontendProtocolError(
            'resolving image configs from OCI layouts is not supported',
            'unimplemented',
          );
        }
        const platform = fromPbPlatform(request.Platform);
        const mode = request.ResolveMode;
        const resolved = await client.resolveImageConfig(request.Ref, {
          ...(platform ? { platform } : {}),
          ...(mode === 'default' || mode === 'pull' || mode === 'local' ? { resolveMode: mode } : {}),
          ...(request.LogName ? { logName: request.LogName } : {}),
        });
        return create(ResolveImageConfigResponseSchema, {
          Digest: resolved.digest,
          Config: resolved.config,
          Ref: resolved.ref,
        });
      }),
      evaluate: this.#unary(async (request: EvaluateRequest) => {
        // Solve has already built the result; all that is left is to check the ref.
        this.checkRef(request.Ref);
        return create(EvaluateResponseSchema);
      }),
      inputs: this.#unary(async () =>
        create(InputsResponseSchema, { Definitions: Object.fromEntries(client.inputs()) }),
      ),
      warn: this.#unary(async (request: WarnRequest) => {
        gateway.job.progress.write({
          type: 'warning',
          warning: {
            vertex: request.digest,
            level: Number(request.level),
            short: Buffer.from(request.short).toString('utf8'),
            detail: request.detail.map((d) => Buffer.from(d).toString('utf8')),
            url: request.url,
          },
        });
        return create(WarnResponseSchema);
      }),
      newContainer: this.#unary(async (request: NewContainerRequest) => {
        await containers.create(request, this.#opts.signal);
        return create(NewContainerResponseSchema);
      }),
      releaseContainer: this.#unary(async (request: ReleaseContainerRequest) => {
        await containers.release(request.ContainerID);
        return create(ReleaseContainerResponseSchema);
      }),
      execProcess: ((call) =>
        serveExecProcess({
          call,
          containers,
          errors,
          signal: this.#opts.signal,
          onActivity: (delta) => this.#activity(delta),
        })) as handleBidiStreamingCall<ExecMessage, ExecMessage>,
    };
  }
}
