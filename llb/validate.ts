import {
  MountType,
  NetMode,
  SecurityMode,
  type ChownOpt,
  type ExecOp,
  type FileOp,
  type Op,
} from '../proto/gen/pb/ops_pb.js';
import { parseReference } from '../oci/index.js';
import { InvalidDefinitionError } from './errors.js';

// Structural checks of one decoded op, before the graph is assembled. Each failure names the op
// (digest, kind) and the offending part; the graph-level checks live in definition.ts.

type Fail = (reason: string) => never;

/** No path, argument or variable can carry a NUL byte into a system call. */
function refuseNul(value: string, what: string, fail: Fail): void {
  if (value.includes('\0')) fail(`${what} ${JSON.stringify(value)} contains a NUL byte`);
}

/** The path-like strings of a file action, with what they are. */
function actionPaths(action: FileOp['actions'][number]['action']): Array<[string, string]> {
  switch (action.case) {
    case 'copy':
      return [
        ['source', action.value.src],
        ['destination', action.value.dest],
      ];
    case 'mkdir':
    case 'mkfile':
    case 'rm':
      return [['path', action.value.path]];
    case 'symlink':
      return [
        ['link target', action.value.oldpath],
        ['link path', action.value.newpath],
      ];
    default:
      return [];
  }
}

function inRange(value: bigint, low: bigint, high: bigint): boolean {
  return value >= low && value < high;
}

const knownSchemes = new Set(['docker-image', 'oci-layout', 'git', 'local', 'http', 'https']);

function validateSourceIdentifier(id: string, fail: Fail): void {
  const sep = id.indexOf('://');
  if (sep <= 0) fail(`source identifier ${JSON.stringify(id)} has no scheme`);
  const scheme = id.slice(0, sep);
  const rest = id.slice(sep + 3);
  if (!knownSchemes.has(scheme)) {
    fail(`source identifier ${JSON.stringify(id)} has unknown scheme ${JSON.stringify(scheme)}`);
  }
  if (rest === '') fail(`source identifier ${JSON.stringify(id)} names nothing`);
  if (scheme === 'docker-image' || scheme === 'oci-layout') {
    const lastSegment = rest.slice(rest.lastIndexOf('/') + 1);
    if (!rest.includes('@') && !lastSegment.includes(':')) {
      fail(`image reference ${JSON.stringify(rest)} has neither a tag nor a digest`);
    }
    try {
      parseReference(rest);
    } catch (err) {
      fail(`image reference ${JSON.stringify(rest)} is not valid: ${(err as Error).message}`);
    }
  }
}

function validateExec(exec: ExecOp, inputs: number, fail: Fail): number {
  if (!exec.meta) fail('exec op has no meta');
  if (exec.meta.args.length === 0) fail('exec op has no args');
  if (exec.mounts.length === 0) fail('exec op has no mounts');
  if (!(exec.network in NetMode)) fail(`unknown network mode ${exec.network}`);
  if (!(exec.security in SecurityMode)) fail(`unknown security mode ${exec.security}`);
  exec.meta.args.forEach((arg, i) => refuseNul(arg, `argument ${i}`, fail));
  exec.meta.env.forEach((env, i) => refuseNul(env, `environment entry ${i}`, fail));
  refuseNul(exec.meta.cwd, 'working directory', fail);
  let root = false;
  let outputs = 0n;
  exec.mounts.forEach((m, i) => {
    const what = `mount ${i} (${JSON.stringify(m.dest)})`;
    if (!(m.mountType in MountType)) fail(`${what} has unknown type ${m.mountType}`);
    if (m.dest === '') fail(`mount ${i} has no destination`);
    refuseNul(m.dest, `mount ${i} destination`, fail);
    refuseNul(m.selector, `mount ${i} selector`, fail);
    if (m.dest === '/') {
      root = true;
      if (m.mountType !== MountType.BIND)
        fail(`${what} is the root mount but of type ${MountType[m.mountType]}`);
    }
    switch (m.mountType) {
      case MountType.SECRET:
        if (!m.secretOpt) fail(`${what} is a secret mount without secret options`);
        return;
      case MountType.SSH:
        if (!m.SSHOpt) fail(`${what} is an ssh mount without ssh options`);
        return;
      case MountType.CACHE:
        if (!m.cacheOpt) fail(`${what} is a cache mount without cache options`);
        if (m.input < 0n && m.output >= 0n)
          fail(`${what} is an unseeded cache mount with output ${m.output}`);
        break;
    }
    if (!inRange(m.input, -1n, BigInt(inputs))) {
      fail(`${what} reads input ${m.input}, but the op has ${inputs} inputs`);
    }
    if (m.output < -1n) fail(`${what} has output ${m.output}`);
    if (m.output >= 0n && m.mountType !== MountType.TMPFS) {
      if (m.output !== outputs) {
        fail(`${what} has output ${m.output}, expected ${outputs} (outputs count up from 0 in mount order)`);
      }
      outputs++;
    }
  });
  if (!root) fail('exec op has no root mount ("/")');
  return Number(outputs);
}

function validateOwner(owner: ChownOpt | undefined, refs: bigint, what: string, fail: Fail): void {
  for (const part of [owner?.user, owner?.group]) {
    if (part?.user.case === 'byName' && !inRange(part.user.value.input, 0n, refs)) {
      fail(
        `${what} resolves owner ${JSON.stringify(part.user.value.name)} in input ${part.user.value.input}`,
      );
    }
  }
}

function validateFile(file: FileOp, inputs: number, fail: Fail): number {
  const actions = file.actions;
  if (actions.length === 0) fail('file op has no actions');
  const n = BigInt(inputs);
  const refs = n + BigInt(actions.length);
  const outputs = new Set<bigint>();
  actions.forEach((a, j) => {
    const what = `action ${j}`;
    const body = a.action;
    if (body.case === undefined) fail(`${what} has no action kind`);
    for (const [name, value] of actionPaths(body)) refuseNul(value, `${what} ${name}`, fail);
    if (!inRange(a.input, -1n, refs)) fail(`${what} reads input ${a.input}, out of range -1…${refs - 1n}`);
    if (!inRange(a.secondaryInput, -1n, refs)) {
      fail(`${what} reads secondary input ${a.secondaryInput}, out of range -1…${refs - 1n}`);
    }
    if (a.output < -1n) fail(`${what} has output ${a.output}`);
    if (a.output >= 0n) {
      if (outputs.has(a.output)) fail(`${what} repeats output ${a.output}`);
      outputs.add(a.output);
    }
    if (body.case !== 'rm') validateOwner(body.value.owner, refs, what, fail);
  });
  if (outputs.size === 0) fail('file op has no output');
  for (let i = 0n; i < BigInt(outputs.size); i++) if (!outputs.has(i)) fail(`file op has no output ${i}`);
  // Actions may read each other's results in any order, but never in a loop.
  const remaining = actions.map((a) => [a.input, a.secondaryInput].filter((r) => r >= n).length);
  const users = actions.map(() => [] as number[]);
  actions.forEach((a, j) => {
    for (const r of [a.input, a.secondaryInput]) if (r >= n) users[Number(r - n)]!.push(j);
  });
  const ready = remaining.flatMap((count, j) => (count === 0 ? [j] : []));
  let resolved = 0;
  while (ready.length > 0) {
    const j = ready.pop()!;
    resolved++;
    for (const u of users[j]!) if (--remaining[u]! === 0) ready.push(u);
  }
  if (resolved < actions.length) fail('file actions read each other in a loop');
  return outputs.size;
}

/**
 * Checks one op (never the terminal one) against its own inputs and returns how many outputs it
 * has. Throws InvalidDefinitionError naming the op for anything the solver could not run.
 */
export function validateOp(digest: string, op: Op): number {
  const kind = op.op.case;
  const fail: Fail = (reason) => {
    throw new InvalidDefinitionError({ reason, digest, opKind: kind ?? 'none' });
  };
  const inputs = op.inputs.length;
  switch (kind) {
    case 'source':
      if (inputs > 0) fail(`source op has ${inputs} inputs, expected none`);
      validateSourceIdentifier(op.op.value.identifier, fail);
      return 1;
    case 'exec':
      return validateExec(op.op.value, inputs, fail);
    case 'file':
      return validateFile(op.op.value, inputs, fail);
    case 'merge': {
      const merged = op.op.value.inputs;
      if (merged.length === 0) fail('merge op has no inputs');
      merged.forEach((m, i) => {
        if (!inRange(m.input, 0n, BigInt(inputs)))
          fail(`merge input ${i} reads input ${m.input} of ${inputs}`);
      });
      return 1;
    }
    case 'diff': {
      const { lower, upper } = op.op.value;
      if (!lower || !upper) fail('diff op needs both a lower and an upper input');
      for (const [name, side] of [
        ['lower', lower],
        ['upper', upper],
      ] as const) {
        if (!inRange(side.input, -1n, BigInt(inputs)))
          fail(`diff ${name} reads input ${side.input} of ${inputs}`);
      }
      return 1;
    }
    case undefined:
      return fail('op has no op kind (only the last op, the terminal, may have none)');
    default:
      return fail(`op kind ${kind} is not supported`);
  }
}
