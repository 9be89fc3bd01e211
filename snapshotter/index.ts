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
