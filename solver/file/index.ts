// Public face of solver/file: BuildKit-compatible FileOp actions on host directories.

export { type ApplyOptions, applyFileAction } from './apply.js';
export { type Owner, type UserDatabase, type UserLookup, ownerInputs, resolveOwner } from './owner.js';
export { readUserDatabase } from './user-database.js';
export { prepareUpperForCopy } from './upper-copy.js';
export { type ContentSelector, type InputSelectors, copySelectors, fileOpSelectors } from './selectors.js';
export { type ModeSet, parseModeStr } from './mode-str.js';
export { type RootedPath, resolveInRoot } from './root-path.js';
export { globMatch } from './wildcard.js';
export {
  ArchiveError,
  FileActionCanceledError,
  FileActionError,
  FilePathNotFoundError,
  FileSystemError,
  FileTypeConflictError,
  InvalidFileActionError,
  TooManySymlinksError,
  UnknownOwnerError,
  WildcardNoMatchError,
} from './errors.js';
