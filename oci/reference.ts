import { isDigest, type Digest } from './digest.js';
import { OciFormatError } from './errors.js';

/**
 * A normalised image reference: `domain/path[:tag][@digest]`. Docker Hub names are expanded
 * (`busybox` → `docker.io/library/busybox:latest`); `domain` is the name users write
 * (`docker.io`), `registryHost` the host to dial.
 */
export interface ImageReference {
  readonly domain: string;
  readonly path: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

export const dockerHubDomain = 'docker.io';
const dockerHubHost = 'registry-1.docker.io';

const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const domainPattern =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;

function looksLikeDomain(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
}

/**
 * Parses an image reference the way Docker does. Without a tag or digest the tag is `latest`;
 * with only a digest no tag is added.
 */
export function parseReference(input: string): ImageReference {
  const fail = (reason: string): never => {
    throw new OciFormatError('image reference', input, reason);
  };
  if (input.length === 0) fail('empty');
  if (input.length > 255 + 71 + 128) fail('too long');
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) fail(`digest ${JSON.stringify(d)} is not sha256:<64 hex>`);
    digest = d as Digest;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    if (!tagPattern.test(tag)) fail(`tag ${JSON.stringify(tag)} is not valid`);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  let domain = dockerHubDomain;
  let path = rest;
  if (slash >= 0 && looksLikeDomain(rest.slice(0, slash))) {
    domain = rest.slice(0, slash);
    path = rest.slice(slash + 1);
    if (!domainPattern.test(domain)) fail(`registry host ${JSON.stringify(domain)} is not valid`);
  }
  if (domain === 'index.docker.io') domain = dockerHubDomain;
  if (domain === dockerHubDomain && !path.includes('/')) path = `library/${path}`;
  if (path.length === 0) fail('missing repository name');
  for (const part of path.split('/')) {
    if (!pathComponent.test(part)) {
      fail(
        part.toLowerCase() === part
          ? `repository component ${JSON.stringify(part)} is not valid`
          : 'repository name must be lowercase',
      );
    }
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The canonical string `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** `domain/path`, the repository a reference names. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The host to connect to for a reference's domain (Docker Hub's API lives on another host). */
export function registryHost(domain: string): string {
  return domain === dockerHubDomain ? dockerHubHost : domain;
}

/** The shortest name users would write (`busybox`, `myorg/app:1`, `127.0.0.1:5000/x:latest`). */
export function familiarName(ref: ImageReference): string {
  let name = repositoryName(ref);
  if (ref.domain === dockerHubDomain) {
    name = ref.path.startsWith('library/') ? ref.path.slice('library/'.length) : ref.path;
  }
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

export function withDigest(ref: ImageReference, digest: Digest): ImageReference {
  return { ...ref, digest };
}
