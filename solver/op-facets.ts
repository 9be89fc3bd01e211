import { createHash } from 'node:crypto';
import { toBinary } from '@bufbuild/protobuf';
import { FileOpSchema, MountSchema, PlatformSchema, type Op } from '../proto/gen/pb/ops_pb.js';

/**
 * The parts of a step's op that a user changes separately (its command, each environment
 * variable, its mounts…), each as a short hash: kept with the build history so an explanation
 * can say which part of a step changed ("build arg VERSION", "the command") without storing
 * values, which may be private.
 */
export type OpFacets = Readonly<Record<string, string>>;

const hash = (data: string | Uint8Array): string =>
  createHash('sha256').update(data).digest('hex').slice(0, 16);

/** Facets of exec and file ops (others have none worth naming); `env:NAME` per variable. */
export function opFacets(op: Op): OpFacets | undefined {
  const facets: Record<string, string> = {};
  if (op.platform) facets['platform'] = hash(toBinary(PlatformSchema, op.platform));
  if (op.op.case === 'exec') {
    const exec = op.op.value;
    const meta = exec.meta;
    facets['command'] = hash(JSON.stringify(meta?.args ?? []));
    facets['workdir'] = hash(meta?.cwd ?? '');
    facets['user'] = hash(meta?.user ?? '');
    facets['network'] = hash(String(exec.network));
    facets['security'] = hash(String(exec.security));
    facets['mounts'] = hash(exec.mounts.map((m) => hash(toBinary(MountSchema, m))).join(','));
    for (const entry of meta?.env ?? []) {
      const eq = entry.indexOf('=');
      const name = eq < 0 ? entry : entry.slice(0, eq);
      facets[`env:${name}`] = hash(eq < 0 ? '' : entry.slice(eq + 1));
    }
    return facets;
  }
  if (op.op.case === 'file') {
    facets['actions'] = hash(toBinary(FileOpSchema, op.op.value));
    return facets;
  }
  return undefined;
}

/** The facets that differ between two versions of a step, sorted (`command`, `env:V`…). */
export function changedFacets(now: OpFacets | undefined, before: OpFacets | undefined): string[] {
  if (!now || !before) return [];
  const names = new Set([...Object.keys(now), ...Object.keys(before)]);
  return [...names].filter((n) => now[n] !== before[n]).sort();
}
