import { formatReference, parseReference, type Digest, type Platform } from '../../oci/index.js';
import { chainIds } from '../../snapshotter/index.js';
import type { BuiltVertex, ResultRef } from '../../solver/index.js';
import {
  bkExecDigest,
  bkExecKeyedByInputs,
  bkImageConfigDigest,
  bkImageDigest,
  bkRecordDigest,
} from './buildkit-keys.js';
import type { ChainLayer, ConfigBuilder } from './chains.js';

export interface BuildKitRecordOptions {
  /** Platform of ops that name none. */
  readonly defaultPlatform: Platform;
  /** The top-level digest an image reference resolved to (as the image source saw it). */
  readonly topLevel: (ref: string) => Promise<Digest | undefined>;
  /** The exported chain of a result, when the export has one. */
  readonly chainOf: (ref: ResultRef) => readonly ChainLayer[] | undefined;
}

/**
 * Adds records in BuildKit's own key scheme for the steps whose BuildKit keys kiln can compute
 * (image sources, exec steps keyed by their inputs' keys), linked as BuildKit links them and
 * sharing kiln's layers, so a BuildKit importing the cache gets hits for them. Steps after one
 * whose key is not computable (file ops, local sources: content hashes) get none. Returns how
 * many records were added.
 */
export async function addBuildKitRecords(
  builder: ConfigBuilder,
  vertices: readonly BuiltVertex[],
  options: BuildKitRecordOptions,
): Promise<number> {
  const byDigest = new Map(vertices.map((v) => [v.digest, v]));
  const memo = new Map<string, Promise<number[] | undefined>>();
  let added = 0;

  const platformOf = (v: BuiltVertex): Platform => {
    const p = v.op?.platform;
    return p?.OS && p.Architecture
      ? { os: p.OS, architecture: p.Architecture, ...(p.Variant ? { variant: p.Variant } : {}) }
      : options.defaultPlatform;
  };

  const compute = async (v: BuiltVertex, output: number): Promise<number[] | undefined> => {
    const op = v.op;
    const ref = v.refs[output];
    if (!op || !ref) return undefined;
    const chain = options.chainOf(ref);
    const platform = platformOf(v);
    if (op.op.case === 'source' && op.op.value.identifier.startsWith('docker-image://')) {
      const name = formatReference(parseReference(op.op.value.identifier.slice('docker-image://'.length)));
      const top = await options.topLevel(name);
      if (!top) return undefined;
      const roots = [builder.addLinked(bkRecordDigest(bkImageDigest(top, platform), 0), [], chain)];
      if (chain && chain.length > 0) {
        const chainId = chainIds(chain.map((l) => l.diffId)).at(-1)!;
        roots.push(builder.addLinked(bkRecordDigest(bkImageConfigDigest(chainId), 0), [], chain));
      }
      added += roots.length;
      return roots;
    }
    if (op.op.case !== 'exec' || !bkExecKeyedByInputs(op.op.value)) return undefined;
    const inputs: number[][] = [];
    for (const input of op.inputs) {
      const producer = byDigest.get(input.digest);
      const records = producer ? await nodeOf(producer, Number(input.index)) : undefined;
      if (!records) return undefined;
      inputs.push(records);
    }
    added++;
    return [builder.addLinked(bkRecordDigest(bkExecDigest(op.op.value, platform), output), inputs, chain)];
  };

  const nodeOf = (v: BuiltVertex, output: number): Promise<number[] | undefined> => {
    const id = `${v.digest}#${output}`;
    let found = memo.get(id);
    if (!found) {
      found = compute(v, output);
      memo.set(id, found);
    }
    return found;
  };

  for (const v of vertices) for (let i = 0; i < v.keys.length; i++) await nodeOf(v, i);
  return added;
}
