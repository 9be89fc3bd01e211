import { MountType, type Op } from '../proto/gen/pb/ops_pb.js';
import type { Digest } from '../oci/index.js';
import type { LlbGraph, LlbVertex } from './definition.js';

/**
 * How many outputs an op produces (what `Input.index` of a user may address). ExecOp: its bind
 * mounts (and seeded cache mounts) with an output index ≥ 0; FileOp: its actions with an output
 * index ≥ 0 (1 for every definition the Go client writes); source, merge and diff ops: 1.
 */
export function outputCount(op: Op): number {
  switch (op.op.case) {
    case 'exec': {
      const outputs = new Set<bigint>();
      for (const m of op.op.value.mounts) {
        const counts = m.mountType === MountType.BIND || (m.mountType === MountType.CACHE && m.input >= 0n);
        if (counts && m.output >= 0n) outputs.add(m.output);
      }
      return outputs.size;
    }
    case 'file':
      return new Set(op.op.value.actions.filter((a) => a.output >= 0n).map((a) => a.output)).size;
    case 'source':
    case 'merge':
    case 'diff':
      return 1;
    default:
      return 0;
  }
}

/** The distinct digests an op reads, in the order of its inputs: what the scheduler waits for. */
export function inputDigests(op: Op): Digest[] {
  return [...new Set(op.inputs.map((i) => i.digest as Digest))];
}

/**
 * The vertices `digest` (default: the result) depends on, itself included, inputs before users,
 * each once. Iterative, so chains of any depth are fine. Throws RangeError for a digest that is
 * not a vertex of the graph.
 */
export function reachableFrom(graph: LlbGraph, digest: Digest = graph.result.digest): LlbVertex[] {
  const start = graph.vertices.get(digest);
  if (!start) throw new RangeError(`${digest} is not a vertex of this definition`);
  const order: LlbVertex[] = [];
  const status = new Map<Digest, 'open' | 'done'>();
  const stack: LlbVertex[] = [start];
  while (stack.length > 0) {
    const v = stack[stack.length - 1]!;
    const st = status.get(v.digest);
    if (st !== undefined) {
      stack.pop();
      if (st === 'open') {
        status.set(v.digest, 'done');
        order.push(v);
      }
      continue;
    }
    status.set(v.digest, 'open');
    const inputs = v.inputDigests;
    for (let i = inputs.length - 1; i >= 0; i--) {
      const u = graph.vertices.get(inputs[i]!);
      if (u && !status.has(u.digest)) stack.push(u);
    }
  }
  return order;
}

/**
 * An op on a dependency cycle, or undefined when there is none (Kahn's algorithm, then a walk back
 * along unresolved inputs). Ops named by the digest of their own bytes cannot form cycles; this
 * guards graphs whose digests were rewritten (source policies) or assembled by hand.
 */
export function findCycle(
  vertices: ReadonlyMap<Digest, { readonly inputDigests: readonly Digest[] }>,
): Digest | undefined {
  const remaining = new Map<Digest, number>();
  const users = new Map<Digest, Digest[]>();
  const ready: Digest[] = [];
  for (const [digest, v] of vertices) {
    const known = v.inputDigests.filter((d) => vertices.has(d));
    remaining.set(digest, known.length);
    if (known.length === 0) ready.push(digest);
    for (const d of known) {
      const list = users.get(d);
      if (list) list.push(digest);
      else users.set(d, [digest]);
    }
  }
  let resolved = 0;
  while (ready.length > 0) {
    const d = ready.pop()!;
    resolved++;
    for (const u of users.get(d) ?? []) {
      const left = remaining.get(u)! - 1;
      remaining.set(u, left);
      if (left === 0) ready.push(u);
    }
  }
  if (resolved === vertices.size) return undefined;
  let at = [...remaining].find(([, left]) => left > 0)![0];
  const seen = new Set<Digest>();
  while (!seen.has(at)) {
    seen.add(at);
    at = vertices.get(at)!.inputDigests.find((d) => (remaining.get(d) ?? 0) > 0)!;
  }
  return at;
}
