import { parseReference, type ImageReference } from '../oci/index.js';
import type { BuildResult, ExporterRequest, Job } from '../solver/index.js';
import { parseImageOptions } from './attributes.js';
import { asVertex, commitImage, insecureRegistry, type ExportServices } from './context.js';
import { BlobUploads, pushImage, pushRepository, pushTarget, type PushContext } from './image-push.js';
import { step, type ExportProgress } from './progress.js';
import { imageResponse } from './response.js';

/**
 * `--output type=image`: commits the image into the content store (kiln keeps no image store, as
 * BuildKit's containerd-less worker) and, with `push=true`, pushes it to every name. Answers
 * `containerimage.digest`, `containerimage.config.digest` (single platform), `containerimage.descriptor`,
 * and `image.name` (Exporters adds the build info). Throws ExporterRequestError, ResultShapeError,
 * ImagePushError, and snapshotter/content errors.
 */
export async function exportImage(
  services: ExportServices,
  request: ExporterRequest,
  result: BuildResult,
  job: Job,
): Promise<Record<string, string>> {
  const options = parseImageOptions(request.attrs, {
    defaultOci: false,
    frontendAttrs: job.options.frontendAttrs,
    metadata: result.metadata,
  });
  return asVertex(job, 'exporting to image', async (progress) => {
    const pushes = new Map<string, Push>();
    const pushTo = (name: string): Push => {
      let push = pushes.get(name);
      if (!push) {
        push = openPush(
          services,
          job,
          progress,
          pushRepository(name, options.pushByDigest),
          options.insecure,
        );
        pushes.set(name, push);
      }
      return push;
    };
    try {
      // Uploads start while the image is written; names known only afterwards (dangling) wait.
      if (options.push) for (const name of options.names) pushTo(name);
      const image = await commitImage(services, job, result, options, progress, (blob) => {
        for (const push of pushes.values()) push.uploads.add(blob);
      });
      let names = [...options.names];
      if (names.length === 0 && options.danglingPrefix)
        names = [`${options.danglingPrefix}@${image.descriptor.digest}`];
      for (const name of names) {
        const target = options.push ? pushTarget(name, image, options.pushByDigest) : parseReference(name);
        await step(progress, `naming to ${name}`, async () => undefined);
        if (!options.push) continue;
        const push = pushTo(name);
        await pushImage(push.ctx, image, target, push.uploads);
      }
      return imageResponse(image.descriptor, image.configDigest, names);
    } finally {
      for (const push of pushes.values()) await push.close();
    }
  });
}

/** A push to one repository: its client (closed after, when opened for this export) and uploads. */
interface Push {
  readonly ctx: PushContext;
  readonly uploads: BlobUploads;
  close(): Promise<void>;
}

function openPush(
  services: ExportServices,
  job: Job,
  progress: ExportProgress,
  repo: ImageReference,
  insecure: boolean,
): Push {
  const client = insecure
    ? insecureRegistry(services, job, repo.domain)
    : services.registries.forSessions(job.sessionIds);
  const ctx: PushContext = { client, content: services.content, progress, signal: job.signal };
  const uploads = new BlobUploads(ctx, repo);
  return {
    ctx,
    uploads,
    async close() {
      await uploads.cancel(new Error('export ended'));
      if (insecure) await client.close();
    },
  };
}
