import type { Logger } from 'pino';
import type { ContentStore } from '../content/index.js';
import { hostPlatform, type Platform } from '../oci/index.js';
import type { SessionManager } from '../session/index.js';
import type { LocalSnapshotter } from '../snapshotter/index.js';
import type {
  BuildResult,
  BuildSources,
  ExporterRequest,
  ExportRunner,
  Job,
  OpOutput,
  SnapshotAccess,
} from '../solver/index.js';
import { exportArchive } from './archive-exporter.js';
import { resultFrontend, type ExportServices, type RegistrySource } from './context.js';
import { UnsupportedExporterError } from './errors.js';
import { exportImage } from './image-exporter.js';
import { EarlyPush } from './image-pushes.js';
import { ImageWriter } from './image-writer.js';
import { LayerExporter } from './layers.js';
import { exportLocal, exportTar } from './local.js';
import { buildInfo, buildInfoResponse } from './response.js';

export interface ExporterDeps {
  /** Client sessions: FileSend targets, the client's content store, push credentials. */
  readonly sessions: SessionManager;
  /** Read access to result trees (`local`, `tar`). */
  readonly access: SnapshotAccess;
  /** The snapshotter results live in: layers are diffs of its snapshot chains. */
  readonly snapshotter: LocalSnapshotter;
  /** Where layers, configs and manifests are written (and pulled layers are read from). */
  readonly content: ContentStore;
  /** Registry clients authenticated as a build's client (the solver's RegistryAccess). */
  readonly registries: RegistrySource;
  /** Platform of results that name none (LLB built without a frontend); default the host's. */
  readonly defaultPlatform?: Platform;
  readonly logger?: Logger;
}

/**
 * The daemon's exporters, behind the solver's ExportRunner: one `export` call per `--output`,
 * several may run at once (for one build or many); they share layer blobs, which are computed
 * once per snapshot and compression. Types: `image`, `oci`, `docker`, `local`, `tar`; anything
 * else throws UnsupportedExporterError. Lifecycle: one per daemon, nothing to close.
 */
export class Exporters implements ExportRunner {
  readonly #services: ExportServices;
  /** Image pushes started while their build runs, by output (null: the output does not qualify). */
  readonly #early = new WeakMap<ExporterRequest, EarlyPush | null>();

  constructor(deps: ExporterDeps) {
    const layers = new LayerExporter({
      snapshotter: deps.snapshotter,
      content: deps.content,
      ...(deps.logger ? { logger: deps.logger } : {}),
    });
    this.#services = {
      sessions: deps.sessions,
      access: deps.access,
      content: deps.content,
      registries: deps.registries,
      writer: new ImageWriter({ layers, content: deps.content }),
      layers,
      defaultPlatform: deps.defaultPlatform ?? hostPlatform(),
      logger: deps.logger,
    };
  }

  /**
   * Runs one output and returns its part of the exporter response, with the build info BuildKit
   * adds whatever the output (`containerimage.buildinfo`, per platform for multi-platform
   * results). Honours `job.signal`.
   * Throws ExporterRequestError, UnsupportedExporterError, ResultShapeError, ImagePushError,
   * ClientStoreError and errors of the session, snapshotter and content store.
   */
  async export(request: ExporterRequest, result: BuildResult, job: Job): Promise<Record<string, string>> {
    const response = await this.#export(request, result, job);
    const { frontend, frontendAttrs } = resultFrontend(job, result);
    const info = (sources: BuildSources | undefined): string | undefined =>
      buildInfo(frontend, frontendAttrs, sources);
    return { ...buildInfoResponse(info, result), ...response };
  }

  /** Starts pushing an image output's layers while the build runs (see EarlyPush). */
  prepare(request: ExporterRequest, job: Job, chain: readonly OpOutput[]): void {
    let early = this.#early.get(request);
    if (early === undefined) {
      early = EarlyPush.start(this.#services, request, job) ?? null;
      this.#early.set(request, early);
    }
    early?.watch(chain);
  }

  #export(request: ExporterRequest, result: BuildResult, job: Job): Promise<Record<string, string>> {
    switch (request.type) {
      case 'image':
        return exportImage(this.#services, request, result, job, this.#early.get(request)?.pushes);
      case 'oci':
      case 'docker':
        return exportArchive(this.#services, request, result, job);
      case 'local':
        return exportLocal(this.#services, request, result, job);
      case 'tar':
        return exportTar(this.#services, request, result, job);
      default:
        return Promise.reject(new UnsupportedExporterError(request.type));
    }
  }
}
