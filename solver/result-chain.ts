import type { Op } from '../proto/gen/pb/ops_pb.js';
import type { SolverGraph } from './scheduler.js';

/** One output of an op of a definition. */
export interface OpOutput {
  readonly digest: string;
  readonly index: number;
}

/** The input an exec output is a writable copy of (its mount's), if any. */
function execParent(op: Op, index: number): number {
  if (op.op.case !== 'exec') return -1;
  const mount = op.op.value.mounts.find((m) => !m.readonly && Number(m.output) === index);
  return mount ? Number(mount.input) : -1;
}

/** The op input a file op's result is written on: its output action's base, through earlier actions. */
function fileParent(op: Op): number {
  if (op.op.case !== 'file') return -1;
  const actions = op.op.value.actions;
  const n = op.inputs.length;
  let i = actions.findIndex((a) => a.output === 0n);
  if (i < 0) i = actions.length - 1;
  for (let seen = 0; i >= 0 && seen <= actions.length; seen++) {
    const base = Number(actions[i]!.input);
    if (base < n) return base;
    i = base - n;
  }
  return -1;
}

/**
 * The op outputs whose snapshots the result's snapshot is stacked on, the result first: an exec
 * output sits on its mount's input, a file op's on its base input, down to an op that starts a
 * chain of its own (an image, a context, a merge). Each of them settles with a snapshot whose
 * layers are layers of the result, so work on those (an image push) can start before the build
 * ends. Cheap: one step per op of the chain.
 */
export function resultChain(graph: SolverGraph, target: OpOutput): OpOutput[] {
  const chain: OpOutput[] = [];
  const seen = new Set<string>();
  for (let at: OpOutput | undefined = target; at && !seen.has(at.digest);) {
    seen.add(at.digest);
    chain.push(at);
    const op: Op | undefined = graph.ops.get(at.digest)?.op;
    at = op ? parentOf(op, at.index) : undefined;
  }
  return chain;
}

/** The op output that output `index` of `op` is written on, if any. */
function parentOf(op: Op, index: number): OpOutput | undefined {
  const parent = op.op.case === 'exec' ? execParent(op, index) : fileParent(op);
  const input = parent >= 0 ? op.inputs[parent] : undefined;
  return input ? { digest: input.digest, index: Number(input.index) } : undefined;
}

/** The end of `chain` when it is an image (a `docker-image://` source), else nothing. */
export function baseImage(graph: SolverGraph, chain: readonly OpOutput[]): OpOutput[] {
  const bottom = chain.at(-1);
  const op = bottom ? graph.ops.get(bottom.digest)?.op.op : undefined;
  return bottom && op?.case === 'source' && op.value.identifier.startsWith('docker-image://') ? [bottom] : [];
}
