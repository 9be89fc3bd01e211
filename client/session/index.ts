/**
 * client/session: what a client serves inside a session (kilnctl and the client library):
 * openSession() opens `Control.Session` and serves the given providers on a grpc-js server
 * injected into the tunnel: FileSyncProvider (`--local`), FileSendProvider (`--output`),
 * AuthProvider (docker config), SecretsProvider, SshProvider; Health is always served.
 */
export { ClientSessionError, ClientTransferError, ProviderConfigError } from './errors.js';
export {
  type OpenSessionOptions,
  type SessionHandle,
  type SessionOpener,
  newSessionId,
  openSession,
} from './open-session.js';
export type { SessionProvider } from './provider.js';
export { FileSyncProvider } from './file-sync-provider.js';
export { type FileSendOutput, FileSendProvider } from './file-send-provider.js';
export { AuthProvider } from './auth-provider.js';
export {
  type DockerConfig,
  type HostCredentials,
  lookupCredentials,
  readDockerConfig,
} from './docker-config.js';
export { type SecretSource, SecretsProvider } from './secrets-provider.js';
export { SshProvider } from './ssh-provider.js';
export { HealthProvider } from './health-provider.js';
export { type WalkEntry, type WalkOptions, followLinks, walkDirectory } from './walk.js';
