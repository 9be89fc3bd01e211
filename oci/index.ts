export { type ErrorKind, OciFormatError } from './errors.js';
export { type Digest, Digester, digestHex, isDigest, parseDigest, sha256 } from './digest.js';
export {
  type Platform,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformEquals,
  platformRank,
} from './platform.js';
export {
  type Compression,
  MediaType,
  isIndexMediaType,
  isManifestMediaType,
  layerCompression,
  layerMediaType,
} from './media-types.js';
export type {
  ContainerConfig,
  Descriptor,
  HealthConfig,
  HistoryEntry,
  ImageConfig,
  ImageIndex,
  ImageManifest,
} from './image.js';
export {
  type ImageReference,
  dockerHubDomain,
  familiarName,
  formatReference,
  parseReference,
  registryHost,
  repositoryName,
  withDigest,
} from './reference.js';
