import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ContentStore } from '../content/index.js';
import type { Descriptor, Platform } from '../oci/index.js';
import { RegistryClient, type CredentialProvider } from '../registry/index.js';
import { credentials, type Session, type SessionManager } from '../session/index.js';
import type { BuildResult, Job, SnapshotAccess } from '../solver/index.js';
import { SyntheticVertex } from '../solver/index.js';
import type { ImageOptions } from './attributes.js';
import type { CommittedImage, ImageWriter } from './image-writer.js';
import type { LayerExporter } from './layers.js';
import { resultPlatforms } from './platforms.js';
import type { ExportProgress } from './progress.js';
import { provenanceRequest } from './provenance.js';

/** Registry clients that authenticate as a build's client (the solver's RegistryAccess fits). */
export interface RegistrySource {
  forSessions(sessionIds: readonly string[]): RegistryClient;
}

/** What every exporter of a daemon shares. */
export interface ExportServices {
  readonly sessions: SessionManager;
  readonly access: SnapshotAccess;
  readonly content: ContentStore;
  readonly registries: RegistrySource;
  readonly writer: ImageWriter;
  /** The layers the writer uses (an early push computes them before the export). */
  readonly layers: LayerExporter;
  readonly defaultPlatform: Platform;
  readonly logger: Logger | undefined;
}

/** Blobs an export writes stay leased this long (BuildKit's temporary export lease is a day too). */
const leaseLifetimeMs = 24 * 60 * 60 * 1000;

/** The client's session of a job (waits briefly for it, as Session and Solve race). */
export function jobSession(services: ExportServices, job: Job): Promise<Session> {
  return services.sessions.get(job.options.sessionId, { timeoutMs: 5000, signal: job.signal });
}

/** Runs `fn` as the exporter's progress line `name`. */
export function asVertex<T>(
  job: Job,
  name: string,
  fn: (progress: ExportProgress) => Promise<T>,
): Promise<T> {
  const vertex = new SyntheticVertex(job.progress, name);
  return vertex.run(() => fn({ sink: job.progress, vertex }));
}

/**
 * The frontend and its options that produced `result`, as BuildKit's provenance and build info
 * name them: the frontend request the result came from (for docker buildx, the one its
 * client-side build function solved, Control.Solve naming none), else the job's own.
 */
export function resultFrontend(
  job: Job,
  result: BuildResult,
): { frontend: string; frontendAttrs: Readonly<Record<string, string>> } {
  return {
    frontend: result.frontend?.frontend ?? job.options.frontend,
    frontendAttrs: result.frontend?.frontendOpt ?? job.options.frontendAttrs,
  };
}

/**
 * Commits the image of `result` for an image-like output under a fresh lease that keeps its
 * blobs for a day (kiln has no image store: the content store is where `push=false` leaves
 * them); the lease is dropped if the commit fails.
 */
export async function commitImage(
  services: ExportServices,
  job: Job,
  result: BuildResult,
  options: ImageOptions,
  progress: ExportProgress,
  onBlob?: (blob: Descriptor) => void,
): Promise<CommittedImage> {
  const lease = `kiln-export-${job.ref}-${randomBytes(4).toString('hex')}`;
  await services.content.createLease(lease, { expiresAt: new Date(Date.now() + leaseLifetimeMs) });
  try {
    const platforms = resultPlatforms(result, services.defaultPlatform);
    let provenance = provenanceRequest(job.options.frontendAttrs);
    // BuildKit leaves inline-only attestations out of a single-platform image unless the
    // exporter attaches them inline; a multi-platform index carries them regardless.
    if (provenance?.inlineOnly && !options.inlineAttestations && !platforms.multi) provenance = undefined;
    return await services.writer.commit({
      result,
      platforms,
      options,
      ...(provenance
        ? {
            provenance: {
              request: provenance,
              build: {
                ...resultFrontend(job, result),
                invocationId: job.ref,
                startedOn: job.createdAt,
              },
            },
          }
        : {}),
      lease,
      progress,
      signal: job.signal,
      ...(onBlob ? { onBlob } : {}),
    });
  } catch (error) {
    await services.content.deleteLease(lease).catch(() => undefined);
    throw error;
  }
}

/**
 * A registry client for `registry.insecure=true`: plain HTTP first, then HTTPS without
 * verification, for `domain` only, with the build client's credentials from its session.
 * Close it after use.
 */
export function insecureRegistry(services: ExportServices, job: Job, domain: string): RegistryClient {
  const fromSession: CredentialProvider = async (host) => {
    if (!job.options.sessionId) return undefined;
    try {
      const found = await credentials(await jobSession(services, job), host, { signal: job.signal });
      return found ? { username: found.username, secret: found.secret } : undefined;
    } catch (err) {
      services.logger?.debug({ host, err }, 'no credentials from session');
      return undefined;
    }
  };
  return new RegistryClient({
    hosts: { [domain]: { http: true, insecure: true } },
    credentials: fromSession,
    ...(services.logger ? { logger: services.logger } : {}),
  });
}
