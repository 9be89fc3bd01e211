import type { Logger } from 'pino';
import { parseReference, type ImageReference } from '../oci/index.js';
import type { AuthContext } from './authorizer.js';
import type { RegistryOperation } from './errors.js';
import type { Endpoint, HostResolver } from './hosts.js';
import type { Transport } from './transport.js';

/** What every registry operation works with; built once per client. */
export interface RegistryContext {
  readonly transport: Transport;
  readonly hosts: HostResolver;
  readonly logger?: Logger;
}

/** A repository in a registry: `domain` as users write it, `path` inside it. */
export interface Repository {
  readonly domain: string;
  readonly path: string;
}

/** Accepts `host/path`, a full reference string, or a parsed reference; tags and digests are ignored. */
export function toRepository(ref: string | Repository): Repository {
  const parsed: Repository = typeof ref === 'string' ? parseReference(ref) : ref;
  return { domain: parsed.domain, path: parsed.path };
}

export function toReference(ref: string | ImageReference): ImageReference {
  return typeof ref === 'string' ? parseReference(ref) : ref;
}

export function authContext(operation: RegistryOperation, repo: Repository): AuthContext {
  return { operation, registry: repo.domain, repository: repo.path };
}

export const pullScope = (repo: Repository): string => `repository:${repo.path}:pull`;
export const pushScope = (repo: Repository): string => `repository:${repo.path}:pull,push`;

/**
 * Runs `fn` against each endpoint of the repository's registry in order (mirrors first for pulls)
 * until one succeeds; the last endpoint's error is the one thrown. Cancellation is never retried.
 */
export async function tryEndpoints<T>(
  rc: RegistryContext,
  repo: Repository,
  purpose: 'pull' | 'push',
  signal: AbortSignal | undefined,
  fn: (endpoint: Endpoint) => Promise<T>,
): Promise<T> {
  const endpoints = await rc.hosts.endpoints(repo.domain, purpose);
  for (let i = 0; ; i++) {
    const endpoint = endpoints[i]!;
    try {
      return await fn(endpoint);
    } catch (error) {
      signal?.throwIfAborted();
      if (i === endpoints.length - 1) throw error;
      rc.logger?.warn(
        { endpoint: endpoint.base, repository: repo.path, err: (error as Error).message },
        'registry endpoint failed, trying the next one',
      );
    }
  }
}
