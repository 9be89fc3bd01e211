import { Auth } from '../proto/gen/moby/filesync/v1/auth_pb.js';
import { SessionCallError } from './errors.js';
import { methodPath, type Session } from './session.js';

export interface RegistryCredentials {
  username: string;
  /** A password, or an identity token when `username` is empty. */
  secret: string;
}

/**
 * The client's registry credentials for `host` (as used for pulls and pushes, e.g.
 * `registry-1.docker.io`), or undefined when it has none or does not serve Auth.
 * Throws SessionCallError for other client failures, SessionEndedError.
 */
export async function credentials(
  session: Session,
  host: string,
  options: { signal?: AbortSignal } = {},
): Promise<RegistryCredentials | undefined> {
  if (!session.supports(methodPath(Auth.method.credentials))) return undefined;
  try {
    const response = await session.unary(Auth.method.credentials, { Host: host }, options);
    if (!response.Username && !response.Secret) return undefined;
    return { username: response.Username, secret: response.Secret };
  } catch (err) {
    if (err instanceof SessionCallError && err.kind === 'unimplemented') return undefined;
    throw err;
  }
}

export interface FetchTokenRequest {
  host: string;
  realm: string;
  service: string;
  scopes: readonly string[];
}

export interface RegistryToken {
  token: string;
  /** Lifetime in seconds (0 when the token server did not say). */
  expiresIn: number;
  /** Unix seconds when issued (0 when unknown). */
  issuedAt: number;
}

/**
 * Lets the client do the bearer-token exchange with its own credentials (the daemon never sees
 * them). Throws MethodNotSupportedError when the client does not serve FetchToken, and
 * SessionCallError (e.g. permission-denied) when the exchange fails.
 */
export async function fetchToken(
  session: Session,
  request: FetchTokenRequest,
  options: { signal?: AbortSignal } = {},
): Promise<RegistryToken> {
  const response = await session.unary(
    Auth.method.fetchToken,
    {
      ClientID: 'buildkit-client',
      Host: request.host,
      Realm: request.realm,
      Service: request.service,
      Scopes: [...request.scopes],
    },
    options,
  );
  return {
    token: response.Token,
    expiresIn: Number(response.ExpiresIn),
    issuedAt: Number(response.IssuedAt),
  };
}
