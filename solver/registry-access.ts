import type { Logger } from 'pino';
import { chainCredentials, type CredentialProvider, type RegistryClient } from '../registry/index.js';
import { credentials as sessionCredentials, type SessionManager } from '../session/index.js';

/**
 * Registry clients that authenticate as the build's client: credentials come from the client's
 * session (its `~/.docker/config.json`, through the Auth service), then from the daemon host's
 * own docker config. The daemon itself holds no user credentials.
 */
export class RegistryAccess {
  readonly #root: RegistryClient;
  readonly #sessions: SessionManager;
  readonly #hostCredentials: CredentialProvider | undefined;
  readonly #logger: Logger | undefined;

  constructor(options: {
    root: RegistryClient;
    sessions: SessionManager;
    hostCredentials?: CredentialProvider;
    logger?: Logger;
  }) {
    this.#root = options.root;
    this.#sessions = options.sessions;
    this.#hostCredentials = options.hostCredentials;
    this.#logger = options.logger;
  }

  /** A client for a build whose sessions are `sessionIds` (most relevant first). */
  forSessions(sessionIds: readonly string[]): RegistryClient {
    const fromSessions: CredentialProvider = async (host) => {
      for (const id of sessionIds) {
        try {
          const session = await this.#sessions.get(id, { timeoutMs: 5000 });
          const found = await sessionCredentials(session, host);
          if (found) return { username: found.username, secret: found.secret };
        } catch (err) {
          this.#logger?.debug({ host, err }, 'no credentials from session');
        }
      }
      return undefined;
    };
    const providers = this.#hostCredentials ? [fromSessions, this.#hostCredentials] : [fromSessions];
    return this.#root.withCredentials(chainCredentials(...providers));
  }
}
