import { create } from '@bufbuild/protobuf';
import { APICapSchema, type APICap } from '../proto/gen/moby/buildkit/v1/apicaps/caps_pb.js';

/** One LLB capability as kiln advertises it in `LLBBridge.Ping` (`PongResponse.LLBCaps`). */
export interface LlbCap {
  readonly id: string;
  readonly enabled: boolean;
  /** Where the cap comes from: BuildKit v0.11.6's list, or a later BuildKit. */
  readonly origin: 'v0.11.6' | 'head';
  /** Why a listed cap is off; set exactly when `enabled` is false. */
  readonly disabledReason?: string;
}

// Every cap BuildKit v0.11.6 advertises, spelling included: `soruce.http.uidgid` is misspelled
// upstream and clients compare the string.
const v0116 = [
  'source.image',
  'source.image.resolvemode',
  'source.image.layerlimit',
  'source.local',
  'source.local.unique',
  'source.local.sessionid',
  'source.local.includepatterns',
  'source.local.followpaths',
  'source.local.excludepatterns',
  'source.local.sharedkeyhint',
  'source.local.differ',
  'source.git',
  'source.git.keepgitdir',
  'source.git.fullurl',
  'source.git.httpauth',
  'source.git.knownsshhosts',
  'source.git.mountsshsock',
  'source.git.subdir',
  'source.http',
  'source.http.checksum',
  'source.http.perm',
  'soruce.http.uidgid',
  'source.ocilayout',
  'source.buildop.llbfilename',
  'source.policy',
  'exec.meta.base',
  'exec.meta.cgroup.parent',
  'exec.meta.network',
  'exec.meta.proxyenv',
  'exec.meta.security',
  'exec.meta.security.devices.v1',
  'exec.meta.setsdefaultpath',
  'exec.meta.ulimit',
  'exec.meta.removemountstubs.recursive',
  'exec.mount.bind',
  'exec.mount.bind.readwrite-nooutput',
  'exec.mount.cache',
  'exec.mount.cache.sharing',
  'exec.mount.selector',
  'exec.mount.tmpfs',
  'exec.mount.tmpfs.size',
  'exec.mount.secret',
  'exec.mount.ssh',
  'exec.cgroup',
  'exec.secretenv',
  'file.base',
  'file.rm.wildcard',
  'file.copy.includeexcludepatterns',
  'file.rm.nofollowsymlink',
  'constraints',
  'platform',
  'meta.ignorecache',
  'meta.description',
  'meta.exportcache',
  'cache.gha',
  'cache.s3',
  'cache.azblob',
  'mergeop',
  'diffop',
  'exporter.image.annotations',
  'exporter.image.attestations',
  'exporter.sourcedateepoch',
] as const;

// Caps of later BuildKit releases whose fields kiln's proto, builder and decoder carry.
const headImplemented = [
  'source.image.checksum',
  'exec.validexitcode',
  'file.symlink.create',
  'file.copy.modestring',
  'file.copy.alwaysreplaceexistingdestpaths',
] as const;

// Caps of later BuildKit releases kiln lists as off, so a client asking for one gets a clear
// "not supported" instead of a field silently ignored.
const headMissing = [
  'source.local.metadatatransfer',
  'source.git.checksum',
  'source.git.skipsubmodules',
  'source.git.signatureverify',
  'source.git.mtime',
  'source.git.fetchbycommit',
  'source.git.bundle',
  'source.git.checkoutbundle',
  'source.http.auth',
  'source.http.header',
  'source.http.signatureverify',
  'source.imageblob',
  'exec.meta.network.proxy',
  'exec.meta.cdi',
  'exec.meta.linux.resources',
  'exec.mount.cache.content',
  'file.copy.requiredpaths',
  'passthroughop',
  'exporter.multiple',
  'exporter.session',
  'source.policy.session',
  'gc.freespacefilter',
  'history.filter',
] as const;

/** The full list kiln advertises, enabled caps first, each group in BuildKit's order. */
export const llbCaps: readonly LlbCap[] = Object.freeze([
  ...v0116.map((id) => ({ id, enabled: true, origin: 'v0.11.6' as const })),
  ...headImplemented.map((id) => ({ id, enabled: true, origin: 'head' as const })),
  ...headMissing.map((id) => ({
    id,
    enabled: false,
    origin: 'head' as const,
    disabledReason: 'not implemented by kiln',
  })),
]);

/** The IDs of every enabled cap: what `decodeDefinition` accepts in `OpMetadata.caps` by default. */
export const supportedLlbCaps: ReadonlySet<string> = new Set(
  llbCaps.filter((c) => c.enabled).map((c) => c.id),
);

/** The list as protobuf `APICap` messages for `PongResponse.LLBCaps`; a fresh array on every call. */
export function llbApiCaps(): APICap[] {
  return llbCaps.map((c) =>
    create(APICapSchema, {
      ID: c.id,
      Enabled: c.enabled,
      ...(c.disabledReason ? { DisabledReason: 'unsupported', DisabledReasonMsg: c.disabledReason } : {}),
    }),
  );
}
