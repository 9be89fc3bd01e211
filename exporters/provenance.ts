import {
  familiarName,
  formatPlatform,
  hostPlatform,
  parseReference,
  type Digest,
  type Platform,
} from '../oci/index.js';
import type { BuildSources } from '../solver/index.js';
import { ExporterRequestError } from './errors.js';
import { goTime } from './go-json.js';

export const provenancePredicateType = 'https://slsa.dev/provenance/v0.2';

/** What `attest:provenance=…` asked for. */
export interface ProvenanceRequest {
  readonly mode: 'min' | 'max';
  readonly builderId: string;
  readonly reproducible: boolean;
  /**
   * `inline-only=true` (docker buildx asks for it by default): the attestation goes only into
   * images of exporters that attach inline attestations (`image`, or `attestation-inline=true`),
   * not into a single-platform `oci`/`docker` tarball.
   */
  readonly inlineOnly: boolean;
}

/** The build a provenance describes. */
export interface ProvenanceBuild {
  readonly frontend: string;
  readonly frontendAttrs: Readonly<Record<string, string>>;
  /** The job's ref, BuildKit's `buildInvocationID`. */
  readonly invocationId: string;
  readonly startedOn: Date;
  readonly finishedOn: Date;
}

/**
 * Parses the frontend attribute `attest:provenance` (`mode=min|max`, `builder-id=…`,
 * `reproducible=…`, `inline-only=…`, `disabled=true`); undefined when absent or disabled.
 * Throws ExporterRequestError.
 */
export function provenanceRequest(
  frontendAttrs: Readonly<Record<string, string>>,
): ProvenanceRequest | undefined {
  const raw = frontendAttrs['attest:provenance'];
  if (raw === undefined) return undefined;
  const fields = new Map<string, string>();
  for (const part of raw.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    fields.set(
      (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase(),
      eq < 0 ? '' : part.slice(eq + 1).trim(),
    );
  }
  if (['true', '1'].includes(fields.get('disabled') ?? '')) return undefined;
  const mode = fields.get('mode') ?? 'max';
  if (mode !== 'min' && mode !== 'max' && mode !== 'full') {
    throw new ExporterRequestError(`invalid provenance mode ${JSON.stringify(mode)} (min or max)`, {
      attribute: 'attest:provenance',
    });
  }
  return {
    mode: mode === 'min' ? 'min' : 'max',
    builderId: fields.get('builder-id') ?? '',
    reproducible: ['true', '1'].includes(fields.get('reproducible') ?? ''),
    inlineOnly: ['true', '1'].includes(fields.get('inline-only') ?? ''),
  };
}

function escape(text: string, keep: RegExp, spacePlus: boolean): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (keep.test(c)) out += c;
    else if (spacePlus && c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
const queryEscape = (s: string): string => escape(s, /[A-Za-z0-9\-_.~]/, true);
const pathEscape = (s: string): string => escape(s, /[A-Za-z0-9\-_.~$&+,:;=@]/, false);

/** The package URL BuildKit names an image subject with (`pkg:docker/ns/name@tag?platform=…`). */
export function imagePurl(name: string, platform?: Platform): string {
  const ref = parseReference(name);
  const familiar = familiarName({ domain: ref.domain, path: ref.path });
  const parts = familiar.split('/');
  const last = parts.pop()!;
  const qualifiers: string[] = [];
  if (ref.digest) qualifiers.push(`digest=${pathEscape(ref.digest)}`);
  if (platform) qualifiers.push(`platform=${pathEscape(formatPlatform(platform))}`);
  const version = ref.tag ?? (ref.digest ? '' : 'latest');
  return (
    `pkg:docker/${parts
      .map(queryEscape)
      .map((p) => `${p}/`)
      .join('')}${queryEscape(last)}` +
    (version ? `@${pathEscape(version)}` : '') +
    (qualifiers.length > 0 ? `?${qualifiers.join('&')}` : '')
  );
}

const hostSpecific = new Set(['cgroup-parent', 'image-resolve-mode', 'platform', 'cache-imports']);

/**
 * An in-toto statement carrying a SLSA v0.2 provenance predicate for one platform's manifest,
 * shaped as BuildKit v0.11 writes it: `materials` are the images the result was built from,
 * and materials are complete only when no local directory went in. `buildConfig` (the LLB of
 * `mode=max`) is not written.
 */
export function provenanceStatement(
  request: ProvenanceRequest,
  build: ProvenanceBuild,
  subject: { names: readonly string[]; platform: Platform; digest: Digest },
  sources: BuildSources = { images: [], locals: [], secrets: [], ssh: [] },
): Record<string, unknown> {
  const args: Record<string, string> = {};
  let parametersComplete = build.frontend !== '';
  for (const [key, value] of Object.entries(build.frontendAttrs)) {
    if (hostSpecific.has(key) || key.startsWith('attest:') || key.startsWith('vcs:')) continue;
    if (request.mode === 'min' && (key.startsWith('build-arg:') || key.startsWith('label:'))) {
      parametersComplete = false;
      continue;
    }
    args[key] = value;
  }
  const configSource: Record<string, string> = {};
  const contextKey = args['contextkey'] || 'context';
  if (args[contextKey]) {
    configSource.uri = args[contextKey]!.replace(/\/\/[^/@]*@/, '//');
    delete args[contextKey];
  }
  if (args['filename']) {
    configSource.entryPoint = args['filename'];
    delete args['filename'];
  }
  const vcs: Record<string, string> = {};
  for (const [key, value] of Object.entries(build.frontendAttrs)) {
    if (key.startsWith('vcs:') && value) vcs[key.slice(4)] = value.replace(/\/\/[^/@]*@/, '//');
  }
  const sortedArgs = Object.fromEntries(
    Object.entries(args).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return {
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType: provenancePredicateType,
    subject: subject.names.map((name) => ({
      name: imagePurl(name, subject.platform),
      digest: { sha256: subject.digest.slice('sha256:'.length) },
    })),
    predicate: {
      builder: { id: request.builderId },
      buildType: 'https://mobyproject.org/buildkit@v1',
      invocation: {
        configSource,
        parameters: {
          ...(build.frontend ? { frontend: build.frontend } : {}),
          ...(Object.keys(sortedArgs).length > 0 ? { args: sortedArgs } : {}),
          ...(sources.secrets.length > 0 ? { secrets: sources.secrets.map(mountedSecret) } : {}),
          ...(sources.ssh.length > 0 ? { ssh: sources.ssh.map(mountedSecret) } : {}),
          ...(sources.locals.length > 0 ? { locals: sources.locals.map((name) => ({ name })) } : {}),
        },
        environment: { platform: formatPlatform(hostPlatform()) },
      },
      metadata: {
        buildInvocationID: build.invocationId,
        buildStartedOn: goTime(build.startedOn),
        buildFinishedOn: goTime(build.finishedOn),
        completeness: {
          parameters: parametersComplete,
          environment: true,
          materials: sources.locals.length === 0,
        },
        reproducible: request.reproducible,
        'https://mobyproject.org/buildkit@v1#metadata': Object.keys(vcs).length > 0 ? { vcs } : {},
      },
      ...(sources.images.length > 0
        ? {
            materials: sources.images.map((image) => ({
              uri: imagePurl(image.ref, image.platform),
              digest: { sha256: image.digest.slice('sha256:'.length) },
            })),
          }
        : {}),
    },
  };
}

function mountedSecret(secret: { id: string; optional: boolean }): Record<string, unknown> {
  return { id: secret.id, ...(secret.optional ? { optional: true } : {}) };
}
