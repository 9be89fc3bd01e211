/**
 * session/: the daemon side of BuildKit's session tunnel. The daemon's gRPC server hands every
 * `Control.Session` call to SessionManager.accept(); jobs find their session with get(id) and
 * call the client's services through it: receiveDirectory (FileSync, `local://` sources),
 * sendDirectory / sendStream (FileSend outputs), credentials / fetchToken (Auth), getSecret,
 * checkAgent / forwardSSHAgent. For speed, register Control.Session with bytesMessageCodec as its
 * (de)serializer instead of the reflection-based generated codec.
 */
export {
  type ErrorKind,
  FileSyncProtocolError,
  FileSyncRemoteError,
  FileSyncWriteError,
  MethodNotSupportedError,
  SessionCallError,
  SessionCanceledError,
  SessionEndedError,
  SessionExistsError,
  SessionMetadataError,
  SessionNotFoundError,
  SshForwardError,
  kindOfGrpcCode,
} from './errors.js';
export {
  type BidiCall,
  type CallOptions,
  type RpcMethod,
  type SessionInfo,
  Session,
  methodPath,
} from './session.js';
export { SessionManager, parseSessionMetadata } from './session-manager.js';
export type { SessionCall } from './tunnel.js';
export { type RawCall } from './call.js';
export { GoMode, type FileStat } from './fs-stat.js';
export {
  type ReceiveDirectoryOptions,
  type ReceiveDirectoryResult,
  type ReceiveProgress,
  type ReceivedEntry,
  receiveDirectory,
} from './file-sync.js';
export {
  type SendDirectoryOptions,
  type SendDirectoryResult,
  type SendStreamOptions,
  sendDirectory,
  sendStream,
} from './file-send.js';
export {
  type FetchTokenRequest,
  type RegistryCredentials,
  type RegistryToken,
  credentials,
  fetchToken,
} from './auth.js';
export { getSecret } from './secrets.js';
export { type AgentForward, checkAgent, forwardSSHAgent } from './ssh.js';
export { bytesMessageCodec } from './wire-codec.js';
export { ContentClient, contentStoreIdKey, type ClientContentInfo } from './content-client.js';
