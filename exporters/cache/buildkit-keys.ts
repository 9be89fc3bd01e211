import { sha256, type Digest, type Platform } from '../../oci/index.js';
import type { ExecOp, Mount } from '../../proto/gen/pb/ops_pb.js';
import { MountType } from '../../proto/gen/pb/ops_pb.js';
import { goJson } from '../go-json.js';
import type { CacheConfig } from './cache-config.js';

/**
 * BuildKit v0.11's own cache keys, for the ops where they can be computed without BuildKit's
 * content hashing: image sources and exec ops whose inputs enter by cache key (a rw root mount,
 * or any mount without a selector that is not read-only). Facts from BuildKit's
 * solver/llbsolver/ops (source.go, exec.go), source/containerimage/pull.go and
 * solver/cachemanager.go; the JSON is Go's json.Marshal of BuildKit's gogo-protobuf structs.
 *
 * A BuildKit cache record's digest is `rootKey(cacheMapDigest, output)`; records of ops with
 * inputs are found through links from their inputs' records (input index, selector), never by
 * digest alone.
 */

/** `sha256("<digest>@<output>")`: the digest of a cache record (BuildKit's rootKey/outputKey). */
export function bkRecordDigest(cacheMapDigest: string, output: number): Digest {
  return sha256(`${cacheMapDigest}@${output}`);
}

/**
 * The CacheMap digest of an image source at its first (manifest) stage: over Go's JSON of
 * `{Digest, OS, Arch, Variant?}` where Digest is the resolved top-level descriptor (the index of a
 * multi-platform image), prefixed with `buildkit.source.v0:`.
 */
export function bkImageDigest(topLevel: Digest, platform: Platform): Digest {
  const key = sha256(
    goJson({
      Digest: topLevel,
      OS: platform.os,
      Arch: platform.architecture,
      ...(platform.variant ? { Variant: platform.variant } : {}),
    }),
  );
  return sha256(`buildkit.source.v0:${key}`);
}

/** The image source's second-stage CacheMap digest: over the chain ID of the config's diff IDs. */
export function bkImageConfigDigest(chainId: Digest): Digest {
  return sha256(`buildkit.source.v0:${chainId}`);
}

function omitEmpty<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === '' || v === 0 || v === 0n || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = typeof v === 'bigint' ? Number(v) : v;
  }
  return out as Partial<T>;
}

function mountJson(m: Mount): Record<string, unknown> {
  // `input` and `output` have no omitempty; selectors are stripped from the key.
  return {
    input: Number(m.input),
    ...omitEmpty({ dest: m.dest }),
    output: Number(m.output),
    ...omitEmpty({ readonly: m.readonly, mountType: m.mountType }),
    ...(m.TmpfsOpt ? { TmpfsOpt: omitEmpty({ size: m.TmpfsOpt.size }) } : {}),
    ...(m.cacheOpt ? { cacheOpt: omitEmpty({ ID: m.cacheOpt.ID, sharing: m.cacheOpt.sharing }) } : {}),
    ...(m.secretOpt
      ? {
          secretOpt: omitEmpty({
            ID: m.secretOpt.ID,
            uid: m.secretOpt.uid,
            gid: m.secretOpt.gid,
            mode: m.secretOpt.mode,
            optional: m.secretOpt.optional,
          }),
        }
      : {}),
    ...(m.SSHOpt
      ? {
          SSHOpt: omitEmpty({
            ID: m.SSHOpt.ID,
            uid: m.SSHOpt.uid,
            gid: m.SSHOpt.gid,
            mode: m.SSHOpt.mode,
            optional: m.SSHOpt.optional,
          }),
        }
      : {}),
    ...omitEmpty({ resultID: m.resultID }),
  };
}

/** BuildKit's exception: a lone writable root bind mount is left out of the key (old versions did). */
function onlyRootMount(mounts: readonly Mount[]): boolean {
  const m = mounts[0];
  return (
    mounts.length === 1 &&
    m !== undefined &&
    m.dest === '/' &&
    !m.readonly &&
    m.mountType === MountType.BIND &&
    !m.cacheOpt &&
    !m.SSHOpt &&
    !m.secretOpt &&
    !m.resultID
  );
}

/**
 * The CacheMap digest of an exec op: Go's JSON of `{Type: "buildkit.exec.v0", Exec, OS, Arch,
 * Variant?}` with extra hosts' IPs, mount selectors and proxy env removed (v0.11 field set).
 */
export function bkExecDigest(exec: ExecOp, platform: Platform): Digest {
  const meta = exec.meta;
  const mounts = onlyRootMount(exec.mounts) ? [] : exec.mounts;
  const execJson = {
    meta: meta
      ? {
          ...omitEmpty({ args: meta.args, env: meta.env, cwd: meta.cwd, user: meta.user }),
          ...(meta.extraHosts.length > 0
            ? { extraHosts: meta.extraHosts.map((h) => omitEmpty({ Host: h.Host })) }
            : {}),
          ...omitEmpty({ hostname: meta.hostname }),
          ...(meta.ulimit.length > 0
            ? { ulimit: meta.ulimit.map((u) => omitEmpty({ Name: u.Name, Soft: u.Soft, Hard: u.Hard })) }
            : {}),
          ...omitEmpty({
            cgroupParent: meta.cgroupParent,
            removeMountStubsRecursive: meta.removeMountStubsRecursive,
          }),
        }
      : {},
    ...(mounts.length > 0 ? { mounts: mounts.map(mountJson) } : {}),
    ...omitEmpty({ network: exec.network, security: exec.security }),
    ...(exec.secretenv.length > 0
      ? { secretenv: exec.secretenv.map((s) => omitEmpty({ ID: s.ID, name: s.name, optional: s.optional })) }
      : {}),
  };
  return sha256(
    goJson({
      Type: 'buildkit.exec.v0',
      Exec: execJson,
      OS: platform.os,
      Arch: platform.architecture,
      ...(platform.variant ? { Variant: platform.variant } : {}),
    }),
  );
}

/**
 * Whether every input of an exec op enters BuildKit's key by cache key alone (no content hash,
 * no selector): then its key is computable here.
 */
export function bkExecKeyedByInputs(exec: ExecOp): boolean {
  return exec.mounts.every(
    (m) => m.input < 0n || (!m.selector && (!m.readonly || m.dest === '/') && m.output !== -1n),
  );
}

/**
 * BuildKit's record graph of a cache config, walked as its solver does: roots by digest, other
 * records through links from their inputs' records.
 */
export class BuildKitRecords {
  readonly #byDigest = new Map<string, number[]>();
  readonly #links = new Map<string, number[]>();

  constructor(private readonly config: CacheConfig) {
    config.records.forEach((r, i) => {
      const list = this.#byDigest.get(r.digest) ?? [];
      list.push(i);
      this.#byDigest.set(r.digest, list);
      r.inputs?.forEach((alts, input) => {
        for (const alt of alts) {
          const id = `${alt.link}|${input}|${alt.selector ?? ''}|${r.digest}`;
          const targets = this.#links.get(id) ?? [];
          targets.push(i);
          this.#links.set(id, targets);
        }
      });
    });
  }

  /** Records in the graph. */
  get size(): number {
    return this.config.records.length;
  }

  /** Root records (no inputs) with this digest. */
  roots(digest: string): number[] {
    return (this.#byDigest.get(digest) ?? []).filter((i) => !this.config.records[i]!.inputs?.length);
  }

  /**
   * Records with `digest` reachable from every input: input `k` may be any of `inputs[k]`
   * (with an empty selector).
   */
  linked(digest: string, inputs: ReadonlyArray<readonly number[]>): number[] {
    let found: Set<number> | undefined;
    inputs.forEach((candidates, k) => {
      const here = new Set<number>();
      for (const c of candidates) for (const t of this.#links.get(`${c}|${k}||${digest}`) ?? []) here.add(t);
      found = found ? new Set([...found].filter((t) => here.has(t))) : here;
    });
    return [...(found ?? [])];
  }
}
