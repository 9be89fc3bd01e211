import type { Readable } from 'node:stream';
import type { Database } from 'better-sqlite3';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { Descriptor, Digest, ImageConfig, ImageReference } from '../oci/index.js';
import { Authorizer } from './authorizer.js';
import { fetchBlob, type FetchBlobOptions } from './blob-fetch.js';
import type { CredentialProvider } from './credentials.js';
import { HostResolver, type RegistryHosts } from './hosts.js';
import { getManifest, type FetchedManifest } from './manifest.js';
import { pull, type PullOptions, type PullResult } from './pull.js';
import { pushImage, type PushImageOptions } from './push-image.js';
import {
  defaultUploadTuning,
  pushBlob,
  pushManifest,
  type BlobOpener,
  type PushBlobOptions,
  type PushBlobResult,
  type UploadTuning,
} from './push.js';
import {
  toReference,
  toRepository,
  tryEndpoints,
  type RegistryContext,
  type Repository,
} from './registry-context.js';
import { Resolutions } from './resolutions.js';
import { resolve, type ResolveOptions, type Resolved } from './resolver.js';
import { defaultRetry, defaultTimeouts, Transport, type RetryPolicy, type Timeouts } from './transport.js';

export interface RegistryClientOptions {
  /** Per-host settings (buildkitd.toml `[registry."host"]`). */
  readonly hosts?: RegistryHosts;
  /** Where credentials come from; anonymous when absent or when it answers undefined. */
  readonly credentials?: CredentialProvider;
  /** The daemon's database, for the `registry_resolved` table; without it nothing is remembered. */
  readonly db?: Database;
  readonly logger?: Logger;
  /** Blob transfers running at once across every pull and push of this client (default 4). */
  readonly concurrency?: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly timeouts?: Partial<Timeouts>;
  readonly upload?: Partial<UploadTuning>;
}

interface Shared {
  readonly hosts: HostResolver;
  readonly queue: PQueue;
  readonly resolutions: Resolutions | undefined;
  readonly logger: Logger | undefined;
  readonly retry: RetryPolicy;
  readonly timeouts: Timeouts;
  readonly tuning: UploadTuning;
}

/**
 * An OCI distribution client. One per daemon (it owns the transfer queue, the per-host TLS agents
 * and the remembered resolutions); `withCredentials` makes a view with another credential source
 * (a client session's) that shares all of that but keeps its own token cache. Every method takes
 * a signal; errors are RegistryError subclasses naming registry, repository and what failed, with
 * `kind` permission-denied (401/403), not-found (404), unavailable (5xx, network, timeouts after
 * retries), failed-precondition (other refusals, content mismatches).
 */
export class RegistryClient {
  #shared: Shared;
  #rc: RegistryContext;

  constructor(options: RegistryClientOptions = {}) {
    this.#shared = {
      hosts: new HostResolver({ hosts: options.hosts }),
      queue: new PQueue({ concurrency: options.concurrency ?? 4 }),
      resolutions: options.db ? new Resolutions(options.db) : undefined,
      logger: options.logger,
      retry: { ...defaultRetry, ...options.retry },
      timeouts: { ...defaultTimeouts, ...options.timeouts },
      tuning: { ...defaultUploadTuning, ...options.upload },
    };
    this.#rc = this.#context(options.credentials);
  }

  #context(credentials: CredentialProvider | undefined): RegistryContext {
    const { hosts, logger, retry, timeouts } = this.#shared;
    const authorizer = new Authorizer({ credentials, logger });
    return { hosts, logger, transport: new Transport({ authorizer, retry, timeouts, logger }) };
  }

  /** A view of this client that authenticates with `credentials` (fresh token cache, shared rest). */
  withCredentials(credentials: CredentialProvider | undefined): RegistryClient {
    const view = new RegistryClient({});
    view.#shared = this.#shared;
    view.#rc = this.#context(credentials);
    return view;
  }

  /**
   * Resolves a reference to its top-level descriptor and exact bytes (see ResolveMode), optionally
   * selecting a platform's entry from an index. Cost: at most one manifest GET.
   */
  resolve(ref: string | ImageReference, options: ResolveOptions = {}): Promise<Resolved> {
    return resolve(this.#rc, this.#shared.resolutions, toReference(ref), options);
  }

  /** GETs a manifest or index by tag or digest, verified, with its exact bytes. */
  fetchManifest(
    repo: string | Repository,
    reference: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<FetchedManifest> {
    const r = toRepository(repo);
    return tryEndpoints(this.#rc, r, 'pull', options.signal, (endpoint) =>
      getManifest(this.#rc, endpoint, r, reference, { operation: 'pull', signal: options.signal }),
    );
  }

  /** A blob as a verified stream (see fetchBlob); not queued, the caller bounds its own reads. */
  fetchBlob(repo: string | Repository, descriptor: Descriptor, options: FetchBlobOptions = {}): Readable {
    return fetchBlob(this.#rc, toRepository(repo), descriptor, options);
  }

  /** Pulls one platform's image into a content store (see pull). */
  pull(ref: string | ImageReference, options: PullOptions): Promise<PullResult> {
    return pull(this.#rc, this.#shared.resolutions, this.#shared.queue, toReference(ref), options);
  }

  /**
   * The image config for a platform (what a frontend's `resolveImageConfig` needs): resolves, and
   * stores index, manifest and config, but no layers. `digest` is the top level's.
   */
  async resolveImageConfig(
    ref: string | ImageReference,
    options: Omit<PullOptions, 'layers' | 'onProgress'>,
  ): Promise<{
    reference: ImageReference;
    digest: Digest;
    manifest: Descriptor;
    config: ImageConfig;
    bytes: Buffer;
  }> {
    const pulled = await this.pull(ref, { ...options, layers: false });
    return {
      reference: pulled.reference,
      digest: pulled.root.descriptor.digest,
      manifest: pulled.manifest.descriptor,
      config: pulled.config.value,
      bytes: pulled.config.bytes,
    };
  }

  /** Pushes one blob (HEAD skip, cross-repository mount, chunked or single upload). */
  pushBlob(
    repo: string | Repository,
    descriptor: Descriptor,
    open: BlobOpener,
    options: PushBlobOptions = {},
  ): Promise<PushBlobResult> {
    const r = toRepository(repo);
    return this.#shared.queue.add(() => {
      options.signal?.throwIfAborted();
      return pushBlob(this.#rc, r, descriptor, open, options, this.#shared.tuning);
    });
  }

  /** PUTs a manifest or index under the reference's tag (or digest); returns its digest. */
  pushManifest(
    ref: string | ImageReference,
    mediaType: string,
    bytes: Uint8Array,
    options: { signal?: AbortSignal } = {},
  ): Promise<Digest> {
    return pushManifest(this.#rc, toReference(ref), mediaType, bytes, options);
  }

  /** Pushes an image graph (index or manifest and everything below) from a content store. */
  push(ref: string | ImageReference, options: PushImageOptions): Promise<Digest> {
    return pushImage(this.#rc, this.#shared.queue, this.#shared.tuning, toReference(ref), options);
  }

  /** Waits for queued transfers, then releases TLS agents. Views share them: close the root only. */
  async close(): Promise<void> {
    await this.#shared.queue.onIdle();
    await this.#shared.hosts.close();
  }
}
