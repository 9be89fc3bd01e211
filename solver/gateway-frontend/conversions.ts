import { create } from '@bufbuild/protobuf';
import type { Platform } from '../../oci/index.js';
import { StatSchema, type Stat } from '../../proto/gen/fsutil/types/stat_pb.js';
import { ResultSchema, type Result } from '../../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import type { Definition, Platform as PbPlatform } from '../../proto/gen/pb/ops_pb.js';
import type { FileStat, GatewayRef, GatewayResult } from '../gateway-client.js';

/*
 * LLBBridge messages ↔ the gateway contract, for the bridge gateway.v0 serves to a frontend
 * container (the same shapes daemon/gateway-service.ts uses on the control socket).
 */

export function toPbStat(s: FileStat): Stat {
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

function byKey<V>(entries: Iterable<[string, V]>): Record<string, V> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A result for SolveResponse, each ref with the definition that produced it when known. */
export function toPbResult(
  result: GatewayResult,
  definitionOf: (ref: GatewayRef) => Definition | undefined,
): Result {
  const ref = (r: GatewayRef) => {
    const def = definitionOf(r);
    return { id: r.id, ...(def ? { def } : {}) };
  };
  const metadata = byKey(result.metadata);
  if (result.refs) {
    return create(ResultSchema, {
      result: { case: 'refs', value: { refs: byKey([...result.refs].map(([k, r]) => [k, ref(r)])) } },
      metadata,
    });
  }
  return create(ResultSchema, {
    ...(result.ref ? { result: { case: 'ref', value: ref(result.ref) } } : {}),
    metadata,
  });
}

/** The refs a Result names, whichever of its four forms it uses. */
export function resultRefs(result: Result | undefined): { ref?: string; refs?: Map<string, string> } {
  switch (result?.result.case) {
    case 'ref':
      return { ref: result.result.value.id };
    case 'refDeprecated':
      return { ref: result.result.value };
    case 'refs':
      return { refs: new Map(Object.entries(result.result.value.refs).map(([k, r]) => [k, r.id])) };
    case 'refsDeprecated':
      return { refs: new Map(Object.entries(result.result.value.refs)) };
    default:
      return {};
  }
}

export function fromPbPlatform(p: PbPlatform | undefined): Platform | undefined {
  if (!p || !p.OS) return undefined;
  return { os: p.OS, architecture: p.Architecture, ...(p.Variant ? { variant: p.Variant } : {}) };
}
