import { Secrets } from '../proto/gen/moby/buildkit/secrets/v1/secrets_pb.js';
import { SessionCallError } from './errors.js';
import { methodPath, type Session } from './session.js';

/**
 * The secret `id` from the client, or undefined when the client does not have it (NotFound) or
 * serves no secrets. Whether a missing secret is fatal is the caller's call (`optional` mounts).
 * The value is never logged. Throws SessionCallError for other failures, SessionEndedError.
 */
export async function getSecret(
  session: Session,
  id: string,
  options: { signal?: AbortSignal } = {},
): Promise<Uint8Array | undefined> {
  if (!session.supports(methodPath(Secrets.method.getSecret))) return undefined;
  try {
    const response = await session.unary(Secrets.method.getSecret, { ID: id }, options);
    return response.data;
  } catch (err) {
    if (err instanceof SessionCallError && (err.kind === 'not-found' || err.kind === 'unimplemented'))
      return undefined;
    throw err;
  }
}
