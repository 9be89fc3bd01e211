/**
 * exporters/cache/: remote build caches in BuildKit's format (cacheconfig.v0). CacheExporter is
 * the solver's CacheExportRunner (`--export-cache type=registry|local|inline`) and wraps the
 * daemon's outputs for inline caches and lazy results (`outputs()`); CacheImporter is the
 * solver's CacheImportRunner (`--import-cache type=registry|local`, inline caches of images).
 * Both read `cache-mounts=` (kiln's extension): the contents of `RUN --mount=type=cache`
 * directories travel with the cache and are restored into fresh directories.
 */
export {
  CacheBlobMissingError,
  CacheExportError,
  CacheFormatError,
  CacheImportError,
  CacheOptionError,
  UnsupportedCacheError,
} from './errors.js';
export {
  parseCacheExport,
  parseCacheImport,
  type CacheExportOptions,
  type CacheImportOptions,
  type CacheLayerOptions,
  type CacheMode,
} from './attributes.js';
export {
  layerChain,
  marshalCacheConfig,
  marshalRecords,
  parseCacheConfig,
  parseRecords,
  sortConfig,
  sortRecords,
  type CacheConfig,
  type CacheLayer,
  type CacheMountEntry,
  type CacheRecord,
} from './cache-config.js';
export {
  cacheIndex,
  exportedMediaType,
  parseCacheTop,
  type CacheIndex,
  type ParsedTop,
} from './cache-index.js';
export { loadCache, type ImportedLayer, type LoadedCache } from './cache-loader.js';
export { ClientBlobSource, RegistryBlobSource, type BlobSource } from './blob-source.js';
export { ImportedCache, type ImportedCacheOptions } from './imported-cache.js';
export { CacheImporter, type CacheImporterDeps } from './importer.js';
export { CacheExporter, type CacheExporterDeps } from './exporter.js';
export { cacheBundle, importedCaches, topLevel, type BuildCache, type BundleDeps } from './bundle.js';
export { CacheOutputs, inlineCacheKey, inlineRecords, type CacheOutputsOptions } from './inline.js';
export { ChainResolver, ConfigBuilder, positionOn, type ChainLayer, type KeyedChain } from './chains.js';
export { addBuildKitRecords, type BuildKitRecordOptions } from './buildkit-records.js';
export {
  exportCacheMounts,
  usedCacheMounts,
  type ExportedCacheMount,
  type UsedCacheMount,
} from './cache-mounts.js';
export {
  bkExecDigest,
  bkExecKeyedByInputs,
  bkImageConfigDigest,
  bkImageDigest,
  bkRecordDigest,
  BuildKitRecords,
} from './buildkit-keys.js';
