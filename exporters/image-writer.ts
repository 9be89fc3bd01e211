import { writeBlob, type ContentStore } from '../content/index.js';
import {
  formatPlatform,
  MediaType,
  sha256,
  type Descriptor,
  type Digest,
  type Platform,
} from '../oci/index.js';
import type { BuildResult } from '../solver/index.js';
import type { Annotations } from './annotations.js';
import type { ImageCommitOptions } from './attributes.js';
import { ExporterRequestError } from './errors.js';
import { descriptorJson, goJson, sorted } from './go-json.js';
import { patchImageConfig } from './image-config.js';
import { layerPolicy, type ExportedLayer, type LayerExporter } from './layers.js';
import { platformMetadata, type PlatformResult, type ResultPlatforms } from './platforms.js';
import { step, type ExportProgress } from './progress.js';
import {
  provenancePredicateType,
  provenanceStatement,
  type ProvenanceBuild,
  type ProvenanceRequest,
} from './provenance.js';

/** One platform's manifest of a committed image. */
export interface CommittedManifest {
  readonly platform: Platform;
  readonly descriptor: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly ExportedLayer[];
}

/** An image written to the content store: its top level (a manifest, or an index) and parts. */
export interface CommittedImage {
  /** The top level, with `platform` for a single manifest and the descriptor annotations asked for. */
  readonly descriptor: Descriptor;
  /** The config digest of a single-platform image (BuildKit answers none for an index). */
  readonly configDigest: Digest | undefined;
  readonly manifests: readonly CommittedManifest[];
}

export interface CommitRequest {
  readonly result: BuildResult;
  readonly platforms: ResultPlatforms;
  readonly options: ImageCommitOptions;
  readonly provenance?: {
    readonly request: ProvenanceRequest;
    readonly build: Omit<ProvenanceBuild, 'finishedOn'>;
  };
  /** Lease holding every blob written. */
  readonly lease: string;
  readonly progress: ExportProgress;
  readonly signal?: AbortSignal;
  /** Told each layer and config as soon as it is in the content store (a push starts uploading it). */
  readonly onBlob?: (blob: Descriptor) => void;
}

const unknownPlatform: Platform = { os: 'unknown', architecture: 'unknown' };

function manifestBytes(
  mediaType: string,
  config: Descriptor,
  layers: readonly Descriptor[],
  annotations?: Readonly<Record<string, string>>,
): Buffer {
  const body = {
    mediaType,
    schemaVersion: 2,
    config: descriptorJson(config),
    layers: layers.map(descriptorJson),
    ...(sorted(annotations) ? { annotations: sorted(annotations) } : {}),
  };
  return Buffer.from(goJson(body, true));
}

/**
 * Writes images into the content store as BuildKit's image writer does: layers for each
 * platform's snapshot chain, the config from the frontend's metadata, one manifest per platform,
 * and an index when the result is multi-platform or carries attestations. Stateless apart from
 * its dependencies; safe to use concurrently.
 */
export class ImageWriter {
  readonly #layers: LayerExporter;
  readonly #content: ContentStore;

  constructor(options: { layers: LayerExporter; content: ContentStore }) {
    this.#layers = options.layers;
    this.#content = options.content;
  }

  /**
   * Commits one image. Cost: the layer work (see LayerExporter) plus a few small writes.
   * Throws ExporterRequestError (annotations that do not fit), ResultShapeError (bad config),
   * snapshotter and content store errors.
   */
  async commit(request: CommitRequest): Promise<CommittedImage> {
    const { platforms, options, progress, provenance, signal, onBlob } = request;
    const isMap = platforms.multi || provenance !== undefined;
    const oci = options.oci || provenance !== undefined;
    const known = new Set(platforms.entries.map((e) => formatPlatform(e.platform)));
    for (const p of options.annotations.platforms()) {
      if (!known.has(p)) {
        throw new ExporterRequestError(`invalid annotation: no platform ${p} found in the build result`);
      }
    }
    if (!isMap) {
      const a = options.annotations.forPlatform();
      if (Object.keys(a.index).length + Object.keys(a.indexDescriptor).length > 0) {
        throw new ExporterRequestError('index annotations not supported for single platform export');
      }
    }
    const policy = {
      ...layerPolicy({ ...options, oci }, request.lease, {
        ...(signal ? { signal } : {}),
        epoch: options.rewriteTimestamp ? options.epoch : undefined,
      }),
      ...(onBlob ? { onLayer: (layer: ExportedLayer) => onBlob(layer.descriptor) } : {}),
    };
    const layerSets = await step(progress, 'exporting layers', () =>
      Promise.all(platforms.entries.map((e) => this.#layers.layers(e.ref.snapshot, policy))),
    );
    const manifests: CommittedManifest[] = [];
    const attestations: Descriptor[] = [];
    for (const [i, entry] of platforms.entries.entries()) {
      const layers = layerSets[i]!;
      const annotations = options.annotations.forPlatform(isMap ? entry.platform : undefined);
      const committed = await this.#manifest(request, entry, layers, annotations, oci);
      manifests.push(committed);
      if (provenance) {
        const statement = provenanceStatement(
          provenance.request,
          { ...provenance.build, finishedOn: new Date() },
          { names: options.names, platform: entry.platform, digest: committed.descriptor.digest },
          request.result.sources.get(platforms.multi ? entry.id : ''),
        );
        attestations.push(await this.#attestation(request, statement, committed.descriptor.digest));
      }
    }
    if (!isMap) {
      return {
        descriptor: manifests[0]!.descriptor,
        configDigest: manifests[0]!.config.digest,
        manifests,
      };
    }
    const shared = options.annotations.forPlatform();
    const mediaType = oci ? MediaType.ociIndex : MediaType.dockerManifestList;
    const bytes = Buffer.from(
      goJson(
        {
          mediaType,
          schemaVersion: 2,
          manifests: [...manifests.map((m) => m.descriptor), ...attestations].map(descriptorJson),
          ...(sorted(shared.index) ? { annotations: sorted(shared.index) } : {}),
        },
        true,
      ),
    );
    const digest = sha256(bytes);
    await step(progress, `exporting manifest list ${digest}`, () => this.#write(request, bytes, mediaType));
    const annotations = sorted(shared.indexDescriptor);
    return {
      descriptor: { mediaType, digest, size: bytes.length, ...(annotations ? { annotations } : {}) },
      configDigest: undefined,
      manifests,
    };
  }

  async #write(request: CommitRequest, bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    return writeBlob(this.#content, bytes, {
      mediaType,
      lease: request.lease,
      ...(request.signal ? { signal: request.signal } : {}),
    });
  }

  async #manifest(
    request: CommitRequest,
    entry: PlatformResult,
    layers: readonly ExportedLayer[],
    annotations: Annotations,
    oci: boolean,
  ): Promise<CommittedManifest> {
    const { result, options, progress } = request;
    const config = patchImageConfig(
      platformMetadata(result.metadata, 'containerimage.config', entry.id),
      entry.platform,
      layers,
      options.epoch,
    );
    const configType = oci ? MediaType.ociConfig : MediaType.dockerConfig;
    const manifestType = oci ? MediaType.ociManifest : MediaType.dockerManifest;
    const configDesc: Descriptor = { mediaType: configType, digest: sha256(config), size: config.length };
    const bytes = manifestBytes(
      manifestType,
      configDesc,
      layers.map((l) => l.descriptor),
      annotations.manifest,
    );
    const digest = sha256(bytes);
    await step(progress, `exporting manifest ${digest}`, () => this.#write(request, bytes, manifestType));
    await step(progress, `exporting config ${configDesc.digest}`, () =>
      this.#write(request, config, configType),
    );
    request.onBlob?.(configDesc);
    const descAnnotations = sorted(annotations.manifestDescriptor);
    return {
      platform: entry.platform,
      descriptor: {
        mediaType: manifestType,
        digest,
        size: bytes.length,
        ...(descAnnotations ? { annotations: descAnnotations } : {}),
        platform: entry.platform,
      },
      config: configDesc,
      layers,
    };
  }

  /** The attestation manifest for `target`, as the `unknown/unknown` entry BuildKit adds to the index. */
  async #attestation(request: CommitRequest, statement: unknown, target: Digest): Promise<Descriptor> {
    const data = Buffer.from(goJson(statement));
    const layer: Descriptor = {
      mediaType: MediaType.inTotoJson,
      digest: sha256(data),
      size: data.length,
      annotations: { 'in-toto.io/predicate-type': provenancePredicateType },
    };
    const config = Buffer.from(
      goJson({
        architecture: 'unknown',
        os: 'unknown',
        config: {},
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    );
    const configDesc: Descriptor = {
      mediaType: MediaType.ociConfig,
      digest: sha256(config),
      size: config.length,
    };
    const bytes = manifestBytes(MediaType.ociManifest, configDesc, [layer]);
    const digest = sha256(bytes);
    await step(request.progress, `exporting attestation manifest ${digest}`, async () => {
      await this.#write(request, data, MediaType.inTotoJson);
      await this.#write(request, config, MediaType.ociConfig);
      await this.#write(request, bytes, MediaType.ociManifest);
    });
    return {
      mediaType: MediaType.ociManifest,
      digest,
      size: bytes.length,
      annotations: {
        'vnd.docker.reference.digest': target,
        'vnd.docker.reference.type': 'attestation-manifest',
      },
      platform: unknownPlatform,
    };
  }
}
