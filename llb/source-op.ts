import { create } from '@bufbuild/protobuf';
import { OpSchema, SourceOpSchema } from '../proto/gen/pb/ops_pb.js';
import { formatReference, parseReference } from '../oci/index.js';
import { State, type ImageConfigLike } from './state.js';
import {
  opEnvelope,
  vertexConstraints,
  type MarshalContext,
  type MarshalledVertex,
  type Output,
  type Vertex,
  type VertexConstraints,
  type VertexOptions,
} from './vertex.js';

export interface ImageOptions extends VertexOptions {
  /** `pull` forces a registry lookup (cap `source.image.resolvemode`); `default` writes nothing. */
  readonly resolveMode?: 'default' | 'pull' | 'local';
  readonly layerLimit?: number;
  /** `image.recordtype`, e.g. `internal` for images the frontend uses itself. */
  readonly recordType?: string;
  /** Expected manifest digest (cap `source.image.checksum`). */
  readonly checksum?: string;
  /** A config already resolved by the caller: its env, working dir and platform go onto the state. */
  readonly imageConfig?: ImageConfigLike;
}

export interface LocalOptions extends VertexOptions {
  readonly sessionId?: string;
  readonly includePatterns?: readonly string[];
  readonly excludePatterns?: readonly string[];
  readonly followPaths?: readonly string[];
  readonly sharedKeyHint?: string;
  readonly differ?: 'none' | 'metadata';
  /** Makes the daemon refuse the build unless it supports `local.differ` (cap `source.local.differ`). */
  readonly differRequired?: boolean;
  /** `local.unique` when there is no session; defaults to the marshal-wide id. */
  readonly localUniqueId?: string;
}

export interface GitOptions extends VertexOptions {
  readonly keepGitDir?: boolean;
  /** Sub-directory of the repository to use, written into the identifier (`#ref:subdir`). */
  readonly subdir?: string;
  readonly authTokenSecret?: string;
  readonly authHeaderSecret?: string;
  /** known_hosts lines for SSH remotes (BuildKit's Go client would run ssh-keyscan; kiln never does). */
  readonly knownSshHosts?: string;
  /** SSH agent id for SSH remotes; default `default`. */
  readonly mountSshSock?: string;
}

export interface HttpOptions extends VertexOptions {
  readonly checksum?: string;
  readonly filename?: string;
  readonly perm?: number;
  readonly uid?: number;
  readonly gid?: number;
}

class SourceVertex implements Vertex {
  readonly kind = 'source' as const;

  private readonly identifier: string;
  private readonly attrs: Readonly<Record<string, string>>;
  private readonly caps: readonly string[];
  private readonly constraints: VertexConstraints;
  private readonly localUniqueId: string | undefined;

  constructor(init: {
    identifier: string;
    attrs: Readonly<Record<string, string>>;
    caps: readonly string[];
    constraints: VertexConstraints;
    localUniqueId: string | undefined;
  }) {
    this.identifier = init.identifier;
    this.attrs = init.attrs;
    this.caps = init.caps;
    this.constraints = init.constraints;
    this.localUniqueId = init.localUniqueId;
  }

  inputs(): readonly Output[] {
    return [];
  }

  marshal(ctx: MarshalContext): MarshalledVertex {
    const attrs = { ...this.attrs };
    const caps = [...this.caps];
    if (this.identifier.startsWith('local://') && attrs['local.session'] === undefined) {
      attrs['local.unique'] = this.localUniqueId ?? ctx.localUniqueId;
      caps.push('source.local.unique');
    }
    const envelope = opEnvelope(ctx, this.constraints, caps);
    const pinned =
      this.identifier.startsWith('docker-image://') || this.identifier.startsWith('oci-layout://');
    return {
      op: create(OpSchema, {
        op: { case: 'source', value: create(SourceOpSchema, { identifier: this.identifier, attrs }) },
        ...(pinned ? { platform: envelope.platform } : {}),
        constraints: envelope.constraints,
      }),
      metadata: envelope.metadata,
      sourceLocations: this.constraints.sourceLocations,
    };
  }
}

function sourceState(
  identifier: string,
  attrs: Record<string, string>,
  caps: string[],
  options: VertexOptions,
  localUniqueId?: string,
): State {
  const constraints = vertexConstraints(options);
  const vertex = new SourceVertex({ identifier, attrs, caps, constraints, localUniqueId });
  return State.fromOutput({
    vertex,
    index: 0,
    ...(constraints.platform ? { platform: constraints.platform } : {}),
  });
}

/** An empty filesystem. */
export function scratch(): State {
  return State.fromOutput(undefined);
}

/**
 * A container image, `ref` normalised as Docker does (`busybox` →
 * `docker.io/library/busybox:latest`); a reference that does not parse is used as given.
 */
export function image(ref: string, options: ImageOptions = {}): State {
  let name = ref;
  try {
    name = formatReference(parseReference(ref));
  } catch {
    // kept as given, as BuildKit's client does; the daemon reports it
  }
  const attrs: Record<string, string> = {};
  const caps = ['source.image'];
  if (options.resolveMode && options.resolveMode !== 'default') {
    attrs['image.resolvemode'] = options.resolveMode;
    if (options.resolveMode === 'pull') caps.push('source.image.resolvemode');
  }
  if (options.recordType) attrs['image.recordtype'] = options.recordType;
  if (options.layerLimit !== undefined) {
    attrs['image.layerlimit'] = String(Math.trunc(options.layerLimit));
    caps.push('source.image.layerlimit');
  }
  if (options.checksum) {
    attrs['image.checksum'] = options.checksum;
    caps.push('source.image.checksum');
  }
  const state = sourceState(`docker-image://${name}`, attrs, caps, options);
  return options.imageConfig ? state.withImageConfig(options.imageConfig) : state;
}

/** Files from the client (`--local name=dir`), sent through its session. */
export function local(name: string, options: LocalOptions = {}): State {
  const attrs: Record<string, string> = {};
  const caps: string[] = [];
  const set = (attr: string, value: string | undefined, cap?: string): void => {
    if (!value) return;
    attrs[attr] = value;
    if (cap) caps.push(cap);
  };
  set('local.session', options.sessionId, 'source.local.sessionid');
  set('local.includepattern', goJsonArray(options.includePatterns), 'source.local.includepatterns');
  set('local.followpaths', goJsonArray(options.followPaths), 'source.local.followpaths');
  set('local.excludepatterns', goJsonArray(options.excludePatterns), 'source.local.excludepatterns');
  set('local.sharedkeyhint', options.sharedKeyHint, 'source.local.sharedkeyhint');
  set('local.differ', options.differ, options.differRequired ? 'source.local.differ' : undefined);
  caps.push('source.local');
  return sourceState(`local://${name}`, attrs, caps, options, options.localUniqueId);
}

const implicitSsh = /^[a-zA-Z0-9\-_]+@[a-zA-Z0-9\-.]+:.*$/;

/**
 * A git repository at `ref` (branch, tag or commit). Remotes without a scheme are https unless
 * they look like `user@host:path` (SSH).
 */
export function git(remote: string, ref: string, options: GitOptions = {}): State {
  let url = remote.split('#')[0] ?? '';
  let rest = remote;
  let protocol: 'http' | 'https' | 'git' | 'ssh' | 'unknown' = 'unknown';
  for (const scheme of ['http', 'https', 'git', 'ssh'] as const) {
    if (rest.startsWith(`${scheme}://`)) {
      rest = rest.slice(scheme.length + 3);
      protocol = scheme;
      break;
    }
  }
  if (protocol === 'unknown' && implicitSsh.test(rest)) protocol = 'ssh';
  let sshHost: string | undefined;
  if (protocol === 'ssh') {
    const at = rest.indexOf('@');
    if (at >= 0) rest = rest.slice(at + 1);
    const colon = rest.indexOf(':');
    if (colon >= 0) {
      sshHost = rest.slice(0, colon);
      rest = `${sshHost}/${rest.slice(colon + 1)}`;
    }
  }
  if (protocol === 'unknown') url = `https://${url}`;
  const fragment = options.subdir ? `${ref}:${options.subdir}` : ref;
  const id = fragment ? `${rest}#${fragment}` : rest;
  const attrs: Record<string, string> = {};
  const caps: string[] = [];
  if (options.keepGitDir) {
    attrs['git.keepgitdir'] = 'true';
    caps.push('source.git.keepgitdir');
  }
  if (url !== '') {
    attrs['git.fullurl'] = url;
    caps.push('source.git.fullurl');
  }
  const explicitAuth = options.authTokenSecret !== undefined || options.authHeaderSecret !== undefined;
  const token = options.authTokenSecret ?? 'GIT_AUTH_TOKEN';
  const header = options.authHeaderSecret ?? 'GIT_AUTH_HEADER';
  if (token !== '') attrs['git.authtokensecret'] = token;
  if (header !== '') attrs['git.authheadersecret'] = header;
  if (explicitAuth && (token !== '' || header !== '')) caps.push('source.git.httpauth');
  if (protocol === 'ssh') {
    if (options.knownSshHosts) attrs['git.knownsshhosts'] = `${options.knownSshHosts.replace(/\n$/, '')}\n`;
    caps.push('source.git.knownsshhosts');
    attrs['git.mountsshsock'] = options.mountSshSock || 'default';
    caps.push('source.git.mountsshsock');
  }
  caps.push('source.git');
  return sourceState(`git://${id}`, attrs, caps, options);
}

/** A file downloaded over HTTP(S); `url` is the identifier itself. */
export function http(url: string, options: HttpOptions = {}): State {
  const attrs: Record<string, string> = {};
  const caps: string[] = [];
  if (options.checksum) {
    attrs['http.checksum'] = options.checksum;
    caps.push('source.http.checksum');
  }
  if (options.filename) attrs['http.filename'] = options.filename;
  const perm = (options.perm ?? 0) & 0o777;
  if (perm !== 0) {
    attrs['http.perm'] = `0${perm.toString(8)}`;
    caps.push('source.http.perm');
  }
  if (options.uid) {
    attrs['http.uid'] = String(options.uid);
    caps.push('soruce.http.uidgid');
  }
  if (options.gid) {
    attrs['http.gid'] = String(options.gid);
    caps.push('soruce.http.uidgid');
  }
  caps.push('source.http');
  return sourceState(url, attrs, caps, options);
}

// Go's json.Marshal of a []string: HTML-significant characters and U+2028/9 escaped, control
// characters other than \n \r \t as \u00XX (Go 1.19, which BuildKit v0.11.6 uses), lone
// surrogates (invalid UTF-8 in Go) as \ufffd.
function goJsonArray(values: readonly string[] | undefined): string | undefined {
  if (!values || values.length === 0) return undefined;
  const short: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  const quote = (s: string): string => {
    let out = '"';
    for (const ch of s) {
      const code = ch.codePointAt(0) ?? 0;
      const esc = short[ch];
      if (esc !== undefined) out += esc;
      else if (code < 0x20 || ch === '<' || ch === '>' || ch === '&' || code === 0x2028 || code === 0x2029) {
        out += `\\u${code.toString(16).padStart(4, '0')}`;
      } else if (code >= 0xd800 && code <= 0xdfff) out += '\\ufffd';
      else out += ch;
    }
    return `${out}"`;
  };
  return `[${values.map(quote).join(',')}]`;
}
