import { randomBytes } from 'node:crypto';
import type { Descriptor } from '../oci/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { ExporterRequest, Job, OpOutput } from '../solver/index.js';
import { parseImageOptions, type ImageOptions } from './attributes.js';
import { insecureRegistry, type ExportServices } from './context.js';
import { BlobUploads, pushRepository } from './image-push.js';
import { layerPolicy } from './layers.js';

/** One name's push: the registry client and the blob uploads to its repository. */
interface NamePush {
  readonly client: RegistryClient;
  readonly uploads: BlobUploads;
}

/**
 * The pushes of one image output, one per name, opened before the image is written so that its
 * blobs start uploading as soon as they are known. Close once done (closing twice is harmless).
 */
export class ImagePushes {
  readonly #pushes = new Map<string, NamePush>();
  readonly #services: ExportServices;
  readonly #job: Job;
  readonly #options: ImageOptions;
  #closed: Promise<void> | undefined;

  constructor(services: ExportServices, job: Job, options: ImageOptions) {
    this.#services = services;
    this.#job = job;
    this.#options = options;
  }

  /** The push to `name`, opened on first use. Throws ExporterRequestError (tagged name by digest). */
  to(name: string): NamePush {
    let push = this.#pushes.get(name);
    if (!push) {
      const repo = pushRepository(name, this.#options.pushByDigest);
      const client = this.#options.insecure
        ? insecureRegistry(this.#services, this.#job, repo.domain)
        : this.#services.registries.forSessions(this.#job.sessionIds);
      const ctx = { client, content: this.#services.content, signal: this.#job.signal };
      push = { client, uploads: new BlobUploads(ctx, repo) };
      this.#pushes.set(name, push);
    }
    return push;
  }

  /** Starts uploading `blob` to every name opened so far. */
  add(blob: Descriptor): void {
    for (const push of this.#pushes.values()) push.uploads.add(blob);
  }

  /** Cancels what is still uploading and closes the clients opened for `registry.insecure`. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const push of this.#pushes.values()) {
        await push.uploads.cancel(new Error('image push closed'));
        if (this.#options.insecure) await push.client.close();
      }
    })();
    return this.#closed;
  }
}

/** How long the blobs of an early push stay leased at most (the lease is dropped with the job). */
const earlyLeaseMs = 60 * 60 * 1000;

/**
 * An image output's push started while the build still runs (see ExportRunner.prepare): as each
 * op output it is told of settles, the layers of its snapshot are computed as the export will
 * compute them (same compression; remembered per snapshot, so the export reuses them) and start
 * uploading to every name. Only for outputs whose layers cannot come out otherwise: pushed, named
 * in the request, no timestamp rewrite. What the export does not take over ends with the job.
 */
export class EarlyPush {
  readonly pushes: ImagePushes;
  /** Op digest → the outputs of it the result is stacked on. */
  readonly #wanted = new Map<string, Set<number>>();
  readonly #started = new Set<string>();

  /** The early push of `request`, or undefined when the output does not qualify. */
  static start(services: ExportServices, request: ExporterRequest, job: Job): EarlyPush | undefined {
    // A cancelled job's abort has fired already: nothing would end the push or drop its lease.
    if (request.type !== 'image' || job.signal.aborted) return undefined;
    let options: ImageOptions;
    try {
      options = parseImageOptions(request.attrs, {
        defaultOci: false,
        frontendAttrs: job.options.frontendAttrs,
        metadata: new Map(),
      });
      if (!options.push || options.names.length === 0 || options.rewriteTimestamp) return undefined;
      for (const name of options.names) pushRepository(name, options.pushByDigest);
    } catch {
      return undefined; // the export reports it
    }
    return new EarlyPush(services, job, options);
  }

  private constructor(services: ExportServices, job: Job, options: ImageOptions) {
    const pushes = new ImagePushes(services, job, options);
    for (const name of options.names) pushes.to(name);
    this.pushes = pushes;
    const lease = `kiln-early-push-${job.ref}-${randomBytes(4).toString('hex')}`;
    const leased = services.content.createLease(lease, { expiresAt: new Date(Date.now() + earlyLeaseMs) });
    // Observed below only once a snapshot settles; a failure then skips the early push.
    leased.catch(() => undefined);
    const policy = layerPolicy(options, lease, { signal: job.signal });
    job.onSettled((digest, outcome) => {
      for (const index of this.#wanted.get(digest) ?? []) {
        const snapshot = outcome.refs[index]?.snapshot;
        if (!snapshot || this.#started.has(snapshot)) continue;
        this.#started.add(snapshot);
        leased
          .then(() => services.layers.layers(snapshot, policy))
          .then((layers) => {
            for (const layer of layers) pushes.add(layer.descriptor);
          })
          .catch((err: unknown) =>
            services.logger?.debug({ err, snapshot }, 'early push skipped a snapshot'),
          );
      }
    });
    job.signal.addEventListener(
      'abort',
      () => {
        void pushes
          .close()
          .then(() => leased)
          .then(() => services.content.deleteLease(lease))
          .catch(() => undefined);
      },
      { once: true },
    );
  }

  /** Starts on the snapshots of `chain` as they settle (a definition's, see resultChain). */
  watch(chain: readonly OpOutput[]): void {
    for (const { digest, index } of chain) {
      const indices = this.#wanted.get(digest) ?? new Set<number>();
      indices.add(index);
      this.#wanted.set(digest, indices);
    }
  }
}
