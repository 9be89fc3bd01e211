import { create } from '@bufbuild/protobuf';
import type { ServiceError } from '@grpc/grpc-js';
import { StatusSchema } from '../../proto/gen/google/rpc/status_pb.js';
import type { APICap } from '../../proto/gen/moby/buildkit/v1/apicaps/caps_pb.js';
import type { Result } from '../../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import type { Definition } from '../../proto/gen/pb/ops_pb.js';
import type { ControlClient } from '../control-client.js';
import { daemonError, statusDetails } from '../daemon-error.js';
import { CapabilityError } from '../errors.js';

/** LLB caps a client may assume when the daemon lists none (BuildKit's frozen default set). */
const defaultLlbCaps = [
  'source.image',
  'source.local',
  'source.local.unique',
  'source.local.sessionid',
  'source.local.includepatterns',
  'source.local.followpaths',
  'source.local.excludepatterns',
  'source.local.sharedkeyhint',
  'source.git',
  'source.git.keepgitdir',
  'source.git.fullurl',
  'source.http',
  'source.http.checksum',
  'source.http.perm',
  'soruce.http.uidgid',
  'source.buildop.llbfilename',
  'exec.meta.base',
  'exec.meta.proxyenv',
  'exec.mount.bind',
  'exec.mount.cache',
  'exec.mount.cache.sharing',
  'exec.mount.selector',
  'exec.mount.tmpfs',
  'exec.mount.secret',
  'constraints',
  'platform',
  'meta.ignorecache',
  'meta.description',
  'meta.exportcache',
];

/** The capability check BuildKit's clients do: present and enabled. */
function capSet(caps: readonly APICap[]): Map<string, APICap> {
  return new Map(caps.map((c) => [c.ID, c]));
}

function requireCap(caps: Map<string, APICap>, id: string): void {
  const cap = caps.get(id);
  if (!cap) {
    throw new CapabilityError({
      capability: id,
      message: `requested feature ${id} is not supported by build server, please update buildkit`,
    });
  }
  if (!cap.Enabled) {
    const reason = cap.DisabledReasonMsg ? `: ${cap.DisabledReasonMsg}` : '';
    throw new CapabilityError({
      capability: id,
      message: `requested feature ${id} has been disabled on the build server${reason}`,
    });
  }
}

export interface GatewayRequest {
  readonly frontend: string;
  readonly frontendOpt: Record<string, string>;
  readonly definition?: Definition;
}

/**
 * The client-side build function of buildctl's gateway detour: Ping (checks the `return`,
 * `returnmap` and, for LLB, every cap the definition's metadata names), Solve with
 * `allowResultReturn`/`allowResultArrayRef`, then Return with the result — or with the error, so
 * the daemon fails `Control.Solve` with it. Calls carry `buildkit-controlapi-buildid`.
 * Resolves with the frontend's metadata (what sub-requests print).
 */
export async function runGatewayBuild(
  control: ControlClient,
  ref: string,
  request: GatewayRequest,
  signal: AbortSignal,
): Promise<Record<string, Uint8Array>> {
  let result: Result | undefined;
  try {
    const pong = await control.ping(ref).catch((err: unknown) => {
      throw daemonError(err, 'LLBBridge.Ping', 'failed to ping gateway');
    });
    const frontendCaps = capSet(pong.FrontendAPICaps);
    requireCap(frontendCaps, 'return');
    if (request.definition) {
      const llbCaps =
        pong.LLBCaps.length > 0
          ? capSet(pong.LLBCaps)
          : new Map(defaultLlbCaps.map((id) => [id, { ID: id, Enabled: true } as APICap]));
      for (const md of Object.values(request.definition.metadata)) {
        for (const id of Object.keys(md.caps)) requireCap(llbCaps, id);
      }
    }
    const response = await control
      .gatewaySolve(
        ref,
        {
          Frontend: request.frontend,
          FrontendOpt: request.frontendOpt,
          ...(request.definition ? { Definition: request.definition } : {}),
          allowResultReturn: true,
          allowResultArrayRef: true,
        },
        signal,
      )
      .catch((err: unknown) => {
        throw daemonError(err, 'LLBBridge.Solve');
      });
    result = response.result;
    if (result?.result.case === 'refs' && Object.keys(result.result.value.refs).length > 1) {
      requireCap(frontendCaps, 'returnmap');
    }
  } catch (err) {
    const code = typeof (err as ServiceError).code === 'number' ? (err as ServiceError).code : 2;
    const grpcCode = (err as { grpcCode?: number }).grpcCode ?? code;
    const message = (err as { details?: string }).details ?? (err as Error).message;
    await control
      .gatewayReturn(ref, {
        error: create(StatusSchema, { code: grpcCode, message, details: statusDetails(err) }),
      })
      .catch(() => undefined);
    throw err;
  }
  await control.gatewayReturn(ref, result ? { result } : {}).catch((err: unknown) => {
    throw daemonError(err, 'LLBBridge.Return');
  });
  return result?.metadata ?? {};
}
