export type {
  ContentInfo,
  ContentManager,
  ContentProvider,
  ContentStore,
  ContentWriter,
  Ingester,
  LeaseManager,
  ReadOptions,
  WriterOptions,
} from './content.js';
export {
  ContentError,
  ContentExistsError,
  ContentInUseError,
  ContentNotFoundError,
  ContentWriteError,
  DigestMismatchError,
  LeaseNotFoundError,
  SizeMismatchError,
  WriterClosedError,
} from './errors.js';
export {
  type CopyResult,
  type CopyStreamOptions,
  type WriteBlobOptions,
  copyStream,
  isAlreadyExists,
  readBlob,
  writeBlob,
} from './helpers.js';
export { LocalContentStore, type LocalContentStoreOptions } from './local-store.js';
export type { ReconcileReport } from './reconcile.js';
