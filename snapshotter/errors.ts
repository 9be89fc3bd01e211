import type { Digest, ErrorKind } from '../oci/index.js';
import type { SnapshotKind } from './snapshotter.js';

/** The root of every snapshotter failure; callers switch on `kind` and `code`, never the message. */
export abstract class SnapshotterError extends Error {
  abstract readonly kind: ErrorKind;
  abstract readonly code: string;
}

export class SnapshotNotFoundError extends SnapshotterError {
  readonly kind = 'not-found' as const;
  readonly code = 'KILN_SNAPSHOTTER_NOT_FOUND' as const;
  readonly key: string;
  constructor(options: { key: string }) {
    super(`snapshot ${JSON.stringify(options.key)} does not exist`);
    this.name = 'SnapshotNotFoundError';
    this.key = options.key;
  }
}

/** A prepare, view or commit named a key that is already taken (active, view and committed share one key space). */
export class SnapshotExistsError extends SnapshotterError {
  readonly kind = 'already-exists' as const;
  readonly code = 'KILN_SNAPSHOTTER_EXISTS' as const;
  readonly key: string;
  constructor(options: { key: string }) {
    super(`snapshot ${JSON.stringify(options.key)} already exists`);
    this.name = 'SnapshotExistsError';
    this.key = options.key;
  }
}

/** An operation needs a snapshot of another kind (commit of a view, a parent that is still active…). */
export class SnapshotKindError extends SnapshotterError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_SNAPSHOTTER_WRONG_KIND' as const;
  readonly key: string;
  readonly actual: SnapshotKind;
  readonly expected: readonly SnapshotKind[];
  readonly operation: string;
  constructor(options: {
    key: string;
    actual: SnapshotKind;
    expected: readonly SnapshotKind[];
    operation: string;
  }) {
    super(
      `${options.operation}: snapshot ${JSON.stringify(options.key)} is ${options.actual}, expected ${options.expected.join(' or ')}`,
    );
    this.name = 'SnapshotKindError';
    this.key = options.key;
    this.actual = options.actual;
    this.expected = options.expected;
    this.operation = options.operation;
  }
}

export class SnapshotHasChildrenError extends SnapshotterError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_SNAPSHOTTER_HAS_CHILDREN' as const;
  readonly key: string;
  readonly children: readonly string[];
  constructor(options: { key: string; children: readonly string[] }) {
    super(
      `cannot remove snapshot ${JSON.stringify(options.key)}: ${options.children.length} snapshot(s) use it as parent (${options.children.slice(0, 3).join(', ')})`,
    );
    this.name = 'SnapshotHasChildrenError';
    this.key = options.key;
    this.children = options.children;
  }
}

export class SnapshotterClosedError extends SnapshotterError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_SNAPSHOTTER_CLOSED' as const;
  constructor() {
    super('the snapshotter is closed');
    this.name = 'SnapshotterClosedError';
  }
}

/** A key or option the snapshotter cannot use (empty key, a root path overlayfs cannot express). */
export class SnapshotterArgumentError extends SnapshotterError {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_SNAPSHOTTER_INVALID_ARGUMENT' as const;
  readonly what: string;
  constructor(options: { what: string; reason: string }) {
    super(`invalid ${options.what}: ${options.reason}`);
    this.name = 'SnapshotterArgumentError';
    this.what = options.what;
  }
}

/** overlayfs was asked for explicitly but cannot be mounted on the root's filesystem. */
export class OverlayUnsupportedError extends SnapshotterError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_SNAPSHOTTER_OVERLAY_UNSUPPORTED' as const;
  readonly root: string;
  constructor(options: { root: string; cause?: unknown }) {
    super(`overlayfs cannot be used under ${options.root}; use the native snapshotter`, {
      cause: options.cause,
    });
    this.name = 'OverlayUnsupportedError';
    this.root = options.root;
  }
}

/** mount(8), umount(8) or a copy failed; `output` holds what the tool printed. */
export class MountError extends SnapshotterError {
  readonly kind = 'internal' as const;
  readonly code = 'KILN_SNAPSHOTTER_MOUNT' as const;
  readonly op: string;
  readonly target: string;
  readonly output: string;
  constructor(options: { op: string; target: string; output: string; cause?: unknown }) {
    super(`${options.op} ${options.target} failed: ${options.output.trim() || 'no output'}`, {
      cause: options.cause,
    });
    this.name = 'MountError';
    this.op = options.op;
    this.target = options.target;
    this.output = options.output;
  }
}

/** A layer entry would read or write outside the snapshot root; the whole layer is refused. */
export class UnsafeLayerPathError extends SnapshotterError {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_SNAPSHOTTER_UNSAFE_PATH' as const;
  readonly entry: string;
  constructor(options: { entry: string; reason: string }) {
    super(`layer entry ${JSON.stringify(options.entry)} refused: ${options.reason}`);
    this.name = 'UnsafeLayerPathError';
    this.entry = options.entry;
  }
}

/** The layer is not a tar kiln can apply (bad header, checksum, truncated, unsupported entry type). */
export class LayerFormatError extends SnapshotterError {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_SNAPSHOTTER_LAYER_FORMAT' as const;
  readonly offset: number;
  constructor(options: { reason: string; offset: number; cause?: unknown }) {
    super(`malformed layer tar at byte ${options.offset}: ${options.reason}`, { cause: options.cause });
    this.name = 'LayerFormatError';
    this.offset = options.offset;
  }
}

/** Writing one layer entry to disk failed (disk full, permissions); `cause` is the system error. */
export class LayerApplyError extends SnapshotterError {
  readonly kind = 'internal' as const;
  readonly code = 'KILN_SNAPSHOTTER_APPLY' as const;
  readonly entry: string;
  constructor(options: { entry: string; cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`applying layer entry ${JSON.stringify(options.entry)}: ${reason}`, { cause: options.cause });
    this.name = 'LayerApplyError';
    this.entry = options.entry;
  }
}

/** An unpacked layer's uncompressed digest differs from the diffID the image config declares. */
export class DiffIdMismatchError extends SnapshotterError {
  readonly kind = 'failed-precondition' as const;
  readonly code = 'KILN_SNAPSHOTTER_DIFFID_MISMATCH' as const;
  readonly layer: Digest;
  readonly expected: Digest;
  readonly actual: Digest;
  constructor(options: { layer: Digest; expected: Digest; actual: Digest }) {
    super(`layer ${options.layer} unpacks to diffID ${options.actual}, expected ${options.expected}`);
    this.name = 'DiffIdMismatchError';
    this.layer = options.layer;
    this.expected = options.expected;
    this.actual = options.actual;
  }
}
