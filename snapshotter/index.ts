export type { Mount } from './mount.js';
export type {
  ChangeSource,
  LayerRecord,
  LocalSnapshotter,
  PrepareOptions,
  SnapshotInfo,
  SnapshotKind,
  Snapshotter,
  Usage,
  WritableLayer,
} from './snapshotter.js';
export {
  DiffIdMismatchError,
  LayerApplyError,
  LayerFormatError,
  MountError,
  OverlayUnsupportedError,
  SnapshotExistsError,
  SnapshotHasChildrenError,
  SnapshotKindError,
  SnapshotNotFoundError,
  SnapshotterArgumentError,
  SnapshotterClosedError,
  SnapshotterError,
  UnsafeLayerPathError,
} from './errors.js';
export type { DirSnapshotterOptions } from './dir-snapshotter.js';
export { OverlaySnapshotter, type OverlaySnapshotterOptions } from './overlay.js';
export { NativeSnapshotter } from './native.js';
export {
  createSnapshotter,
  probeOverlay,
  type CreateSnapshotterOptions,
  type SnapshotterKind,
} from './create.js';
export { mountAll, mountPointsUnder, unmountAll, withTempMount } from './mounting.js';
export { applyLayer, applyTar, type ApplyOptions, type ApplyResult } from './apply-layer.js';
export {
  diffLayer,
  recordLayerBlob,
  type DiffLayerOptions,
  type LayerBlob,
  type LayerContent,
} from './diff-layer.js';
export { layerTar } from './layer-tar.js';
export { isOverlayXattr } from './layer-fs.js';
export { compress, decompress, detectCompression } from './compression.js';
export { chainIds, unpack, unpackLabel, type UnpackOptions, type UnpackResult } from './unpack.js';
export { readTar, type TarEntry, type TarEntryType } from './tar-reader.js';
export { tarHeader, tarPadding, tarTrailer, type TarHeaderInput } from './tar-writer.js';
