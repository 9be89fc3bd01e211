import { fromBinary } from '@bufbuild/protobuf';
import {
  DefinitionSchema,
  OpSchema,
  type Definition,
  type Op,
  type OpMetadata,
  type Source,
} from '../proto/gen/pb/ops_pb.js';
import { sha256, type Digest } from '../oci/index.js';
import { supportedLlbCaps } from './caps.js';
import { InvalidDefinitionError } from './errors.js';
import { findCycle } from './graph.js';
import { validateOp } from './validate.js';

export type LlbOpKind = 'source' | 'exec' | 'file' | 'merge' | 'diff';

/** One output of one op: `index` counts that op's outputs (see outputCount). */
export interface LlbInput {
  readonly digest: Digest;
  readonly index: number;
}

/** One op of a validated definition. */
export interface LlbVertex {
  /** sha256 of `bytes`, exactly as received. */
  readonly digest: Digest;
  readonly kind: LlbOpKind;
  readonly op: Op;
  readonly bytes: Uint8Array;
  readonly metadata: OpMetadata | undefined;
  /** `op.inputs` with numeric indexes, all checked against their producers. */
  readonly inputs: readonly LlbInput[];
  /** The distinct producers, in input order: what the scheduler waits for. */
  readonly inputDigests: readonly Digest[];
  readonly outputs: number;
}

/** A decoded, validated definition: every op reachable or not, and the result the terminal names. */
export interface LlbGraph {
  /** In definition order (inputs first, as clients write them); duplicates collapsed. */
  readonly vertices: ReadonlyMap<Digest, LlbVertex>;
  /** The output the terminal op names: what the build produces. */
  readonly result: LlbInput;
  readonly terminal: { readonly digest: Digest; readonly op: Op; readonly metadata: OpMetadata | undefined };
  readonly source: Source | undefined;
}

export interface DecodeOptions {
  /** Most ops accepted, terminal included (default 200,000); checked before anything is decoded. */
  readonly maxOps?: number;
  /** Most bytes of ops accepted (default 64 MiB). */
  readonly maxBytes?: number;
  /** Caps a definition may require (default: kiln's enabled caps, supportedLlbCaps). */
  readonly supportedCaps?: Iterable<string>;
}

export const defaultMaxOps = 200_000;
export const defaultMaxBytes = 64 * 1024 * 1024;

function fail(reason: string, digest?: string, opKind?: string, cause?: unknown): never {
  throw new InvalidDefinitionError({
    reason,
    ...(digest ? { digest } : {}),
    ...(opKind ? { opKind } : {}),
    ...(cause ? { cause } : {}),
  });
}

/** decodeDefinition over the bytes of a whole `pb.Definition` (as `buildctl debug dump-llb` reads). */
export function decodeDefinitionBytes(bytes: Uint8Array, options: DecodeOptions = {}): LlbGraph {
  const maxBytes = options.maxBytes ?? defaultMaxBytes;
  if (bytes.length > maxBytes)
    fail(`definition is ${bytes.length} bytes, more than the limit of ${maxBytes}`);
  let def: Definition;
  try {
    def = fromBinary(DefinitionSchema, bytes);
  } catch (err) {
    fail(`not a valid pb.Definition: ${(err as Error).message}`, undefined, undefined, err);
  }
  return decodeDefinition(def, options);
}

/**
 * Decodes and validates a `Definition`. Each op is identified by sha256 of its exact bytes (never
 * re-encoded) and identical ops are collapsed; the last element is the terminal op, with exactly
 * one input and no op kind, naming the result. Refuses, with InvalidDefinitionError (kind
 * `invalid-argument`, code KILN_LLB_INVALID, the op's digest and kind in the message): undecodable
 * ops, fewer than two distinct ops, a bad terminal, ops without or with an unsupported kind,
 * unknown input digests, cycles, input and output indexes out of range, malformed source
 * identifiers, caps outside `supportedCaps`, and definitions past `maxOps`/`maxBytes`.
 * Cost: linear in the definition; iterative throughout, so depth does not matter.
 */
export function decodeDefinition(def: Definition, options: DecodeOptions = {}): LlbGraph {
  const maxOps = options.maxOps ?? defaultMaxOps;
  const maxBytes = options.maxBytes ?? defaultMaxBytes;
  const supported = options.supportedCaps ? new Set(options.supportedCaps) : supportedLlbCaps;
  const count = def.def.length;
  if (count > maxOps) fail(`definition has ${count} ops, more than the limit of ${maxOps}`);
  let total = 0;
  for (const bytes of def.def) total += bytes.length;
  if (total > maxBytes) fail(`definition ops take ${total} bytes, more than the limit of ${maxBytes}`);
  if (count < 2) fail(`definition has ${count} ops, expected at least 2 (ops and the terminal op)`);

  const decoded = new Map<Digest, { op: Op; bytes: Uint8Array }>();
  let last: Digest | undefined;
  def.def.forEach((bytes, i) => {
    const digest = sha256(bytes);
    last = digest;
    if (decoded.has(digest)) return;
    try {
      decoded.set(digest, { op: fromBinary(OpSchema, bytes), bytes });
    } catch (err) {
      fail(`element ${i} is not a valid pb.Op: ${(err as Error).message}`, digest, undefined, err);
    }
  });
  if (decoded.size < 2) fail(`definition has ${decoded.size} distinct ops, expected at least 2`);
  const terminalDigest = last!;
  const terminal = decoded.get(terminalDigest)!;
  decoded.delete(terminalDigest);
  if (terminal.op.op.case !== undefined) {
    fail('the last op must be the terminal op, which has no op kind', terminalDigest, terminal.op.op.case);
  }
  if (terminal.op.inputs.length !== 1) {
    fail(
      `the terminal op has ${terminal.op.inputs.length} inputs, expected exactly 1`,
      terminalDigest,
      'terminal',
    );
  }

  const metadataOf = (d: string): OpMetadata | undefined =>
    Object.hasOwn(def.metadata, d) ? def.metadata[d] : undefined;
  const vertices = new Map<Digest, LlbVertex>();
  for (const [digest, { op, bytes }] of decoded) {
    const outputs = validateOp(digest, op);
    const kind = op.op.case as LlbOpKind;
    const inputs = op.inputs.map((input, i) => {
      if (!decoded.has(input.digest as Digest)) {
        fail(
          `input ${i} names ${JSON.stringify(input.digest)}, which is not an op of this definition`,
          digest,
          kind,
        );
      }
      if (input.index < 0n || input.index > 0xffffffffn)
        fail(`input ${i} reads output ${input.index}`, digest, kind);
      return { digest: input.digest as Digest, index: Number(input.index) };
    });
    const inputDigests = [...new Set(inputs.map((i) => i.digest))];
    vertices.set(digest, {
      digest,
      kind,
      op,
      bytes,
      metadata: metadataOf(digest),
      inputs,
      inputDigests,
      outputs,
    });
  }
  for (const v of vertices.values()) {
    v.inputs.forEach((input, i) => {
      const producer = vertices.get(input.digest)!;
      if (input.index >= producer.outputs) {
        fail(
          `input ${i} reads output ${input.index} of ${input.digest} (${producer.kind}), which has ${producer.outputs}`,
          v.digest,
          v.kind,
        );
      }
    });
  }
  const cyclic = findCycle(vertices);
  if (cyclic) fail('the op depends on itself through its inputs (cycle)', cyclic, vertices.get(cyclic)?.kind);

  const resultInput = terminal.op.inputs[0]!;
  const producer = vertices.get(resultInput.digest as Digest);
  if (!producer) {
    fail(
      `the terminal op names ${JSON.stringify(resultInput.digest)}, which is not an op`,
      terminalDigest,
      'terminal',
    );
  }
  if (resultInput.index < 0n || resultInput.index >= BigInt(producer.outputs)) {
    fail(
      `the terminal op reads output ${resultInput.index} of ${producer.digest} (${producer.kind}), which has ${producer.outputs}`,
      terminalDigest,
      'terminal',
    );
  }
  const terminalMetadata = metadataOf(terminalDigest);
  for (const [digest, kind, md] of [
    ...[...vertices.values()].map((v) => [v.digest, v.kind, v.metadata] as const),
    [terminalDigest, 'terminal', terminalMetadata] as const,
  ]) {
    for (const cap of Object.keys(md?.caps ?? {})) {
      if (!supported.has(cap))
        fail(`requires LLB cap ${JSON.stringify(cap)}, which is not supported`, digest, kind);
    }
  }
  return {
    vertices,
    result: { digest: producer.digest, index: Number(resultInput.index) },
    terminal: { digest: terminalDigest, op: terminal.op, metadata: terminalMetadata },
    source: def.Source,
  };
}
