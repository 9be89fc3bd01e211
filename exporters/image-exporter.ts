import { parseReference } from '../oci/index.js';
import type { BuildResult, ExporterRequest, Job } from '../solver/index.js';
import { parseImageOptions } from './attributes.js';
import { asVertex, commitImage, insecureRegistry, type ExportServices } from './context.js';
import { pushImage, pushTarget } from './image-push.js';
import { step } from './progress.js';
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
    const image = await commitImage(services, job, result, options, progress);
    let names = [...options.names];
    if (names.length === 0 && options.danglingPrefix)
      names = [`${options.danglingPrefix}@${image.descriptor.digest}`];
    for (const name of names) {
      const target = options.push ? pushTarget(name, image, options.pushByDigest) : parseReference(name);
      await step(progress, `naming to ${name}`, async () => undefined);
      if (!options.push) continue;
      const client = options.insecure
        ? insecureRegistry(services, job, target.domain)
        : services.registries.forSessions(job.sessionIds);
      try {
        await pushImage({ client, content: services.content, progress, signal: job.signal }, image, target);
      } finally {
        if (options.insecure) await client.close();
      }
    }
    return imageResponse(image.descriptor, image.configDigest, names);
  });
}
