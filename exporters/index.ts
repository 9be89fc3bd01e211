/**
 * exporters/: what happens to a build's result. `Exporters` implements the solver's ExportRunner
 * (`image`, `oci`, `docker`, `local`, `tar`); the pieces below it are exported for tests and
 * for cache exporters that need layers and image blobs the same way.
 */
export {
  ClientStoreError,
  ExporterRequestError,
  ImagePushError,
  LayerRewriteError,
  ResultShapeError,
  UnsupportedExporterError,
} from './errors.js';
export { Exporters, type ExporterDeps } from './exporter.js';
export type { RegistrySource } from './context.js';
export { AnnotationSet, type Annotations } from './annotations.js';
export {
  parseImageOptions,
  sourceDateEpoch,
  type ImageCommitOptions,
  type ImageOptions,
} from './attributes.js';
export { LayerExporter, type ExportedLayer, type LayerPolicy } from './layers.js';
export {
  ImageWriter,
  type CommitRequest,
  type CommittedImage,
  type CommittedManifest,
} from './image-writer.js';
export { normalizeHistory, patchImageConfig, type ConfigLayer } from './image-config.js';
export { resultPlatforms, type PlatformResult, type ResultPlatforms } from './platforms.js';
export { clampTarTimes } from './tar-epoch.js';
export { imagePurl, provenanceRequest, provenanceStatement, type ProvenanceRequest } from './provenance.js';
export { imageGraph, layoutIndex, ociArchive, type ArchiveOptions, type ImageGraph } from './oci-archive.js';
export { ClientContentStore } from './client-store.js';
export { distributionSourceLabel, pushImage, pushTarget } from './image-push.js';
export { buildInfo, imageResponse } from './response.js';
export type { ExportProgress } from './progress.js';
export { treeMembers, treeTar, type TreeTarOptions } from './tree-tar.js';
export { outputTrees, withResultTar, type OutputTree } from './local.js';
export * from './cache/index.js';
