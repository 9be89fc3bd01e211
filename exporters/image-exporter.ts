import { parseReference } from '../oci/index.js';
import type { BuildResult, ExporterRequest, Job } from '../solver/index.js';
import { parseImageOptions } from './attributes.js';
import { asVertex, commitImage, type ExportServices } from './context.js';
import { pushImage, pushTarget } from './image-push.js';
import { ImagePushes } from './image-pushes.js';
import { step } from './progress.js';
import { imageResponse } from './response.js';

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
