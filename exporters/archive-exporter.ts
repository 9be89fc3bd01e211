import { formatReference, parseReference, type Descriptor } from '../oci/index.js';
import { sendStream } from '../session/index.js';
import type { BuildResult, ExporterRequest, Job } from '../solver/index.js';
import { parseImageOptions } from './attributes.js';
import { ClientContentStore } from './client-store.js';
import { asVertex, commitImage, jobSession, type ExportServices } from './context.js';
import { ExporterRequestError, ResultShapeError } from './errors.js';
import { goTime } from './go-json.js';
import { imageGraph, ociArchive } from './oci-archive.js';
import { step } from './progress.js';
import { imageResponse } from './response.js';

function normalizedNames(names: readonly string[]): string[] {
  return names.map((name) => {
    try {
      const ref = parseReference(name);
      return formatReference({
        domain: ref.domain,
        path: ref.path,
        ...(ref.tag ? { tag: ref.tag } : {}),
        ...(ref.digest ? { digest: ref.digest } : {}),
      });
    } catch (cause) {
      throw new ExporterRequestError(`failed to parse ${name}`, { attribute: 'name', cause });
    }
  });
}

/**
 * `--output type=oci|docker`: commits the image like the image exporter, then sends it to the
 * client: by default a tarball (an OCI layout; the Docker variant adds `manifest.json` and
 * `repositories`) through FileSend with the response as `exporter-md-*` metadata; with
 * `tar=false` blob by blob into the client's content store `export` (buildctl then writes
 * index.json itself). The Docker variant refuses multi-platform results, as BuildKit does.
 */
export async function exportArchive(
  services: ExportServices,
  request: ExporterRequest,
  result: BuildResult,
  job: Job,
): Promise<Record<string, string>> {
  const variant = request.type === 'docker' ? 'docker' : 'oci';
  if (variant === 'docker' && (result.refs?.size ?? 0) > 0) {
    throw new ResultShapeError('docker exporter does not currently support exporting manifest lists');
  }
  const options = parseImageOptions(request.attrs, {
    defaultOci: variant === 'oci',
    defaultInlineAttestations: false,
    frontendAttrs: job.options.frontendAttrs,
    metadata: result.metadata,
  });
  const names = normalizedNames(options.names);
  return asVertex(job, `exporting to ${variant} image format`, async (progress) => {
    const image = await commitImage(services, job, result, options, progress);
    const created = options.epoch !== undefined ? new Date(options.epoch * 1000) : new Date();
    const descriptor: Descriptor = {
      ...image.descriptor,
      annotations: {
        'org.opencontainers.image.created': goTime(new Date(Math.floor(created.getTime() / 1000) * 1000)),
        ...image.descriptor.annotations,
      },
    };
    const response = imageResponse(descriptor, image.configDigest, names);
    const session = await jobSession(services, job);
    if (options.tar) {
      const metadata = Object.fromEntries(
        Object.entries(response).map(([key, value]) => [`exporter-md-${key}`, value]),
      );
      await step(progress, 'sending tarball', () =>
        sendStream(
          session,
          ociArchive(services.content, {
            variant,
            descriptor,
            names,
            mtime: options.epoch ?? 0,
            signal: job.signal,
          }),
          { metadata, signal: job.signal },
        ),
      );
    } else {
      const store = new ClientContentStore(session, 'export');
      const graph = await imageGraph(services.content, descriptor, job.signal);
      for (const node of graph.nodes) {
        await store.write(
          node,
          () => services.content.reader(node.digest, { signal: job.signal }),
          job.signal,
        );
      }
    }
    return response;
  });
}
