import { create } from '@bufbuild/protobuf';
import type {
  handleUnaryCall,
  Metadata,
  ServerUnaryCall,
  ServiceError,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import {
  EvaluateResponseSchema,
  InputsResponseSchema,
  PongResponseSchema,
  ReadDirResponseSchema,
  ReadFileResponseSchema,
  ResolveImageConfigResponseSchema,
  ResultSchema,
  ReturnResponseSchema,
  SolveResponseSchema,
  StatFileResponseSchema,
  WarnResponseSchema,
  type Result,
  type ReadDirRequest,
  type ReadFileRequest,
  type ResolveImageConfigRequest,
  type ReturnRequest,
  type SolveRequest,
  type StatFileRequest,
  type WarnRequest,
} from '../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import { StatSchema } from '../proto/gen/fsutil/types/stat_pb.js';
import { fromPbResult, gatewayCaps } from '../frontend/gateway/index.js';
import type { BuildController, FileStat, GatewayRef, GatewayResult, JobGateway } from '../solver/index.js';
import { ClientReportedError, failStream, toServiceError, unimplemented } from './grpc-status.js';
import { toWorkerRecord, type WorkerInfo } from './worker-info.js';

export interface GatewayServiceDeps {
  readonly controller: BuildController;
  readonly worker: WorkerInfo;
  /** LLB caps as the llb package lists them. */
  readonly llbCaps: ReadonlyArray<{ readonly id: string; readonly enabled: boolean }>;
}

const buildIdKey = 'buildkit-controlapi-buildid';

function buildIdOf(metadata: Metadata): string {
  const value = metadata.get(buildIdKey)[0];
  return typeof value === 'string' ? value : '';
}

function toStat(s: FileStat) {
  return create(StatSchema, {
    path: s.path,
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    size: BigInt(s.size),
    modTime: s.modTime,
    linkname: s.linkname,
  });
}

/** Encodes a gateway result for SolveResponse, echoing each ref's definition. */
function toResult(gateway: JobGateway, result: GatewayResult): Result {
  const ref = (r: GatewayRef) => {
    const def = gateway.definitionOf(r);
    return { id: r.id, ...(def ? { def } : {}) };
  };
  const metadata = Object.fromEntries([...result.metadata].sort(([a], [b]) => (a < b ? -1 : 1)));
  if (result.refs) {
    return create(ResultSchema, {
      result: {
        case: 'refs',
        value: { refs: Object.fromEntries([...result.refs].map(([k, r]) => [k, ref(r)])) },
      },
      metadata,
    });
  }
  return create(ResultSchema, {
    ...(result.ref ? { result: { case: 'ref', value: ref(result.ref) } } : {}),
    metadata,
  });
}

/**
 * `moby.buildkit.v1.frontend.LLBBridge` on the control socket: buildctl's client-side build
 * function drives the build through it, every call tagged with the build's ref.
 */
export function gatewayService(deps: GatewayServiceDeps): UntypedServiceImplementation {
  /** Runs a unary handler against the job named by the call's build id. */
  function withGateway<Req, Res>(
    handler: (gateway: JobGateway, request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
  ): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      deps.controller
        .gateway(buildIdOf(call.metadata))
        .then((gateway) => handler(gateway, call.request, call))
        .then(
          (response) => callback(null, response),
          (err: unknown) => callback(toServiceError(err)),
        );
    };
  }

  return {
    ping: ((_call, callback) => {
      callback(
        null,
        create(PongResponseSchema, {
          FrontendAPICaps: gatewayCaps.map((c) => ({
            ID: c.id,
            Enabled: true,
            Deprecated: c.deprecated ?? false,
          })),
          LLBCaps: deps.llbCaps.map((c) => ({ ID: c.id, Enabled: c.enabled })),
          Workers: [toWorkerRecord(deps.worker)],
        }),
      );
    }) as handleUnaryCall<unknown, unknown>,

    solve: withGateway(async (gateway, request: SolveRequest) => {
      const frontendInputs = new Map(Object.entries(request.FrontendInputs));
      const result = await gateway.solve({
        ...(request.Definition ? { definition: request.Definition } : {}),
        frontend: request.Frontend,
        frontendOpt: { ...request.FrontendOpt },
        frontendInputs,
      });
      return create(SolveResponseSchema, { result: toResult(gateway, result) });
    }),

    return: withGateway(async (gateway, request: ReturnRequest) => {
      if (request.error && request.error.code !== 0) {
        gateway.job.setReturnError(new ClientReportedError(request.error));
      } else {
        gateway.job.setReturn(fromPbResult(request.result));
      }
      return create(ReturnResponseSchema);
    }),

    readFile: withGateway(async (gateway, request: ReadFileRequest) => {
      const range = request.Range
        ? { offset: Number(request.Range.Offset), length: Number(request.Range.Length) }
        : undefined;
      const data = await gateway.client({}).readFile({ id: request.Ref }, request.FilePath, range);
      return create(ReadFileResponseSchema, { Data: data });
    }),

    readDir: withGateway(async (gateway, request: ReadDirRequest) => {
      const entries = await gateway
        .client({})
        .readDir({ id: request.Ref }, request.DirPath, request.IncludePattern || undefined);
      return create(ReadDirResponseSchema, { entries: entries.map(toStat) });
    }),

    statFile: withGateway(async (gateway, request: StatFileRequest) => {
      const stat = await gateway.client({}).statFile({ id: request.Ref }, request.Path);
      return create(StatFileResponseSchema, { stat: toStat(stat) });
    }),

    resolveImageConfig: withGateway(async (gateway, request: ResolveImageConfigRequest) => {
      const p = request.Platform;
      const mode = request.ResolveMode;
      const resolved = await gateway.client({}).resolveImageConfig(request.Ref, {
        ...(p && p.OS
          ? {
              platform: {
                os: p.OS,
                architecture: p.Architecture,
                ...(p.Variant ? { variant: p.Variant } : {}),
              },
            }
          : {}),
        ...(mode === 'default' || mode === 'pull' || mode === 'local' ? { resolveMode: mode } : {}),
        ...(request.LogName ? { logName: request.LogName } : {}),
      });
      return create(ResolveImageConfigResponseSchema, {
        Digest: resolved.digest,
        Config: resolved.config,
        Ref: resolved.ref,
      });
    }),

    inputs: withGateway(async () => create(InputsResponseSchema)),
    evaluate: withGateway(async () => create(EvaluateResponseSchema)),
    warn: withGateway(async (gateway, request: WarnRequest) => {
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

    newContainer: ((_call, callback) => callback(unimplemented('LLBBridge.NewContainer'))) as handleUnaryCall<
      unknown,
      unknown
    >,
    releaseContainer: ((_call, callback) =>
      callback(unimplemented('LLBBridge.ReleaseContainer'))) as handleUnaryCall<unknown, unknown>,
    execProcess: ((call: { emit(event: 'error', err: ServiceError): boolean }) =>
      failStream(call, unimplemented('LLBBridge.ExecProcess'))) as never,
  };
}
