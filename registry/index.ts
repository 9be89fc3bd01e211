export { type AuthChallenge, parseChallenges } from './auth-challenge.js';
export type { FetchBlobOptions } from './blob-fetch.js';
export { RegistryClient, type RegistryClientOptions } from './client.js';
export {
  type CredentialProvider,
  type Credentials,
  chainCredentials,
  dockerConfigCredentials,
} from './credentials.js';
export {
  CredentialHelperError,
  NoMatchingPlatformError,
  RegistryConfigError,
  RegistryContentMismatchError,
  RegistryDeniedError,
  RegistryError,
  type RegistryErrorContext,
  RegistryNotFoundError,
  type RegistryOperation,
  RegistryProtocolError,
  RegistryRejectedError,
  RegistryUnauthorizedError,
  RegistryUnavailableError,
} from './errors.js';
export { type Endpoint, type HostSettings, type RegistryHosts, HostResolver, isLocalhost } from './hosts.js';
export { type FetchedManifest, detectMediaType, manifestAccept } from './manifest.js';
export { availablePlatforms, selectManifest } from './platform-select.js';
export type { PullOptions, PullProgress, PullResult } from './pull.js';
export type { PushImageOptions, PushProgress } from './push-image.js';
export type { BlobOpener, PushBlobOptions, PushBlobResult, UploadTuning } from './push.js';
export type { Repository } from './registry-context.js';
export type { ManifestStore, ResolveMode, ResolveOptions, Resolved } from './resolver.js';
export type { RetryPolicy, Timeouts } from './transport.js';
