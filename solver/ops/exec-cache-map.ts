import { clone, create, toBinary } from '@bufbuild/protobuf';
import { sha256, type Platform } from '../../oci/index.js';
import { ExecOpSchema, MountType, type ExecOp } from '../../proto/gen/pb/ops_pb.js';
import type { CacheMap, DepSpec, Selector } from '../op.js';

/**
 * The cache map of an ExecOp, following BuildKit's rules: mount selectors move out of the op
 * digest into the dependencies, extra-host IPs and proxy variables never count, and inputs
 * mounted read-only (or without an output) are keyed by the content at their selectors.
 */
export function execCacheMap(exec: ExecOp, inputCount: number, platform: Platform): CacheMap {
  const normalised = clone(ExecOpSchema, exec);
  for (const host of normalised.meta?.extraHosts ?? []) host.IP = '';
  for (const mount of normalised.mounts) mount.selector = '';
  if (normalised.meta) normalised.meta.proxyEnv = undefined;
  if (isLoneRootMount(normalised)) normalised.mounts = [];
  const platformText = [platform.os, platform.architecture, platform.variant ?? ''].join('/');
  const digest = sha256(
    Buffer.concat([
      Buffer.from(`exec|${platformText}|`),
      toBinary(ExecOpSchema, create(ExecOpSchema, normalised)),
    ]),
  );
  return { digest, deps: mountDeps(exec, inputCount) };
}

function isLoneRootMount(exec: ExecOp): boolean {
  const m = exec.mounts[0];
  return (
    exec.mounts.length === 1 &&
    m !== undefined &&
    m.dest === '/' &&
    !m.readonly &&
    m.mountType === MountType.BIND &&
    !m.cacheOpt &&
    !m.SSHOpt &&
    !m.secretOpt &&
    m.resultID === ''
  );
}

function mountDeps(exec: ExecOp, inputCount: number): DepSpec[] {
  const selectors: string[][] = Array.from({ length: inputCount }, () => []);
  const keyOnly: boolean[] = Array.from({ length: inputCount }, () => false);
  for (const mount of exec.mounts) {
    const input = Number(mount.input);
    if (input < 0 || input >= inputCount) continue;
    if (mount.mountType !== MountType.BIND && mount.mountType !== MountType.CACHE) continue;
    if (mount.selector !== '') selectors[input]!.push(`/${mount.selector}`.replace(/\/+/g, '/'));
    // Writable mounts with an output (and the rootfs) are keyed by their input's key; everything
    // else only reads, so its content is what matters.
    if ((!mount.readonly || mount.dest === '/') && mount.output !== -1n) keyOnly[input] = true;
  }
  return selectors.map((paths, i) => ({
    contentBased: !keyOnly[i],
    selectors: dedupe(paths).map((path): Selector => ({ path, followLinks: true, wildcard: false })),
  }));
}

/** Sorted paths without those already covered by a parent in the list. */
function dedupe(paths: readonly string[]): string[] {
  const unique = [...new Set(paths)];
  return unique.filter((p) => !unique.some((q) => q !== p && p.startsWith(`${q}/`))).sort();
}
