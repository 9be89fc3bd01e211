import type { Logger } from 'pino';
import { RegistryClient, type CredentialProvider } from '../../registry/index.js';
import { credentials, type SessionManager } from '../../session/index.js';
import type { Job } from '../../solver/index.js';

/**
 * A registry client for `registry.insecure=true`: plain HTTP first, then HTTPS without
 * verification, for `domain` only, with the build client's credentials from its session (as the
 * image exporter's). Close it when the job ends.
 */
export function insecureClient(options: {
  sessions: SessionManager;
  job: Job;
  domain: string;
  logger: Logger | undefined;
}): RegistryClient {
  const { sessions, job, domain, logger } = options;
  const fromSession: CredentialProvider = async (host) => {
    if (!job.options.sessionId) return undefined;
    try {
      const session = await sessions.get(job.options.sessionId, { timeoutMs: 5000, signal: job.signal });
      const found = await credentials(session, host, { signal: job.signal });
      return found ? { username: found.username, secret: found.secret } : undefined;
    } catch (err) {
      logger?.debug({ host, err }, 'no credentials from session');
      return undefined;
    }
  };
  return new RegistryClient({
    hosts: { [domain]: { http: true, insecure: true } },
    credentials: fromSession,
    ...(logger ? { logger } : {}),
  });
}
