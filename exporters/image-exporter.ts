import { randomBytes } from 'node:crypto';
import { parseReference, type Descriptor } from '../oci/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { BuildResult, ExporterRequest, Job, OpOutput } from '../solver/index.js';
import { parseImageOptions, type ImageOptions } from './attributes.js';
import { asVertex, commitImage, insecureRegistry, type ExportServices } from './context.js';
import { BlobUploads, pushImage, pushRepository, pushTarget } from './image-push.js';
import { layerPolicy } from './layers.js';
import { step } from './progress.js';
import { imageResponse } from './response.js';

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
 * Starts an image output's push while the build still runs (see ExportRunner.prepare): as each
 * op output on the result's chain settles, the layers of its snapshot are computed as the export
 * will compute them (same compression; remembered per snapshot, so the export reuses them) and
 * start uploading to every name. Only for outputs whose layers cannot come out otherwise: pushed,
 * named in the request, no timestamp rewrite. Returns undefined for any other output. What the
 * export does not take over ends with the job.
 */
export function startEarlyPush(
  services: ExportServices,
  request: ExporterRequest,
  job: Job,
  chain: readonly OpOutput[],
): ImagePushes | undefined {
  if (request.type !== 'image' || chain.length === 0) return undefined;
  let options: ImageOptions;
  try {
    options = parseImageOptions(request.attrs, {
      defaultOci: false,
      frontendAttrs: job.options.frontendAttrs,
      metadata: new Map(),
    });
  } catch {
    return undefined; // the export reports it
  }
  if (!options.push || options.names.length === 0 || options.rewriteTimestamp) return undefined;
  const pushes = new ImagePushes(services, job, options);
  try {
    for (const name of options.names) pushes.to(name);
  } catch {
    void pushes.close();
    return undefined;
  }
  const lease = `kiln-early-push-${job.ref}-${randomBytes(4).toString('hex')}`;
  const leased = services.content.createLease(lease, { expiresAt: new Date(Date.now() + earlyLeaseMs) });
  const policy = layerPolicy(options, lease, { signal: job.signal });
  const wanted = new Map(chain.map((output) => [output.digest, output.index]));
  const started = new Set<string>();
  job.onSettled((digest, outcome) => {
    const index = wanted.get(digest);
    const snapshot = index === undefined ? undefined : outcome.refs[index]?.snapshot;
    if (!snapshot || started.has(snapshot)) return;
    started.add(snapshot);
    leased
      .then(() => services.layers.layers(snapshot, policy))
      .then((layers) => {
        for (const layer of layers) pushes.add(layer.descriptor);
      })
      .catch((err: unknown) => services.logger?.debug({ err, snapshot }, 'early push skipped a snapshot'));
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
  return pushes;
}

/**
 * `--output type=image`: commits the image into the content store (kiln keeps no image store, as
 * BuildKit's containerd-less worker) and, with `push=true`, pushes it to every name, each blob
 * as soon as it is known (`early`: pushes started while the build ran). Answers
 * `containerimage.digest`, `containerimage.config.digest` (single platform),
 * `containerimage.descriptor`, and `image.name` (Exporters adds the build info). Throws
 * ExporterRequestError, ResultShapeError, ImagePushError, and snapshotter/content errors.
 */
export async function exportImage(
  services: ExportServices,
  request: ExporterRequest,
  result: BuildResult,
  job: Job,
  early?: ImagePushes,
): Promise<Record<string, string>> {
  const options = parseImageOptions(request.attrs, {
    defaultOci: false,
    frontendAttrs: job.options.frontendAttrs,
    metadata: result.metadata,
  });
  return asVertex(job, 'exporting to image', async (progress) => {
    const pushes = early ?? new ImagePushes(services, job, options);
    try {
      // Names known only once the image is (dangling) start when it is written.
      if (options.push) for (const name of options.names) pushes.to(name);
      const image = await commitImage(services, job, result, options, progress, (blob) => pushes.add(blob));
      let names = [...options.names];
      if (names.length === 0 && options.danglingPrefix)
        names = [`${options.danglingPrefix}@${image.descriptor.digest}`];
      for (const name of names) {
        const target = options.push ? pushTarget(name, image, options.pushByDigest) : parseReference(name);
        await step(progress, `naming to ${name}`, async () => undefined);
        if (!options.push) continue;
        const { client, uploads } = pushes.to(name);
        await pushImage(
          { client, content: services.content, progress, signal: job.signal },
          image,
          target,
          uploads,
        );
      }
      return imageResponse(image.descriptor, image.configDigest, names);
    } finally {
      await pushes.close();
    }
  });
}
