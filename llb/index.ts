// Public face of llb/: decoding and validating LLB definitions, LLB caps, and the LLB builder.

export { InvalidDefinitionError, LlbBuildError } from './errors.js';
export { type LlbCap, llbApiCaps, llbCaps, supportedLlbCaps } from './caps.js';
export {
  type DecodeOptions,
  type LlbGraph,
  type LlbInput,
  type LlbOpKind,
  type LlbVertex,
  decodeDefinition,
  decodeDefinitionBytes,
} from './definition.js';
export { findCycle, inputDigests, outputCount, reachableFrom } from './graph.js';
export { encodeDefinition, encodeOp } from './encode.js';

export { State, type ImageConfigLike } from './state.js';
export {
  type EnvList,
  type HostIP,
  type MetaKey,
  type NetworkMode,
  type SecurityMode,
  type StateModifier,
  type Ulimit,
  type UlimitName,
  addEnv,
  args,
  cgroupParent,
  dir,
  extraHost,
  hostname,
  metaKeys,
  network,
  platform,
  reset,
  security,
  ulimit,
  user,
} from './meta.js';
export {
  type GitOptions,
  type HttpOptions,
  type ImageOptions,
  type LocalOptions,
  git,
  http,
  image,
  local,
  scratch,
} from './source-op.js';
export { type ExecState, type ProxyEnv, type RunMount, type RunOptions } from './run.js';
export {
  type CopyOptions,
  type CopySource,
  type MkdirOptions,
  type MkfileOptions,
  type Owner,
  type RmOptions,
  type SymlinkOptions,
  type Timestamp,
  BoundFileAction,
  FileAction,
  copy,
  mkdir,
  mkfile,
  rm,
  symlink,
} from './file-action.js';
export { merge } from './merge-op.js';
export { diff } from './diff-op.js';
export { type MarshalOptions, marshal } from './marshal.js';
export type {
  Output,
  ProgressGroup,
  SourceLocation,
  SourceMap,
  SourceRange,
  Vertex,
  VertexOptions,
} from './vertex.js';
export {
  type FilterDecision,
  type FilterState,
  Pattern,
  PatternError,
  PatternMatcher,
  PathFilter,
  cleanPath,
  parseDockerignore,
  selectPaths,
} from './patterns.js';
