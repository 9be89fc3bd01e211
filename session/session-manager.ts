import type { Metadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  SessionCanceledError,
  SessionEndedError,
  SessionExistsError,
  SessionMetadataError,
  SessionNotFoundError,
} from './errors.js';
import { Session, type SessionInfo } from './session.js';
import { tunnelDuplex, type SessionCall } from './tunnel.js';

export const HEADER_UUID = 'x-docker-expose-session-uuid';
export const HEADER_NAME = 'x-docker-expose-session-name';
export const HEADER_SHARED_KEY = 'x-docker-expose-session-sharedkey';
export const HEADER_METHOD = 'x-docker-expose-session-grpc-method';

interface Waiter {
  resolve: (session: Session) => void;
  reject: (err: Error) => void;
}

/**
 * Indexes the sessions clients open with `Control.Session`, by their
 * `x-docker-expose-session-uuid`, and hands them to the jobs that name them.
 *
 * Lifecycle: one per daemon. accept() for each incoming call; get() from jobs (waits briefly for
 * a session that has not arrived yet, as a build's Session and Solve calls race); close() at
 * shutdown ends every session and fails pending get()s.
 */
export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly logger: Logger | undefined;
  private closedError: Error | undefined;

  constructor(options: { logger?: Logger } = {}) {
    this.logger = options.logger;
  }

  /**
   * Takes over a `Control.Session` call and resolves when that session ends (the call is then
   * finished with status OK). Rejects before touching the call with SessionMetadataError (no
   * uuid) or SessionExistsError; the caller then fails the call with the error's kind.
   */
  accept(call: SessionCall, metadata: Metadata = call.metadata): Promise<void> {
    let info: SessionInfo;
    try {
      info = parseSessionMetadata(metadata);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (this.closedError)
      return Promise.reject(new SessionEndedError({ sessionId: info.id, cause: this.closedError }));
    if (this.sessions.has(info.id)) return Promise.reject(new SessionExistsError({ sessionId: info.id }));
    const session = new Session({
      info,
      tunnel: tunnelDuplex(call),
      ...(this.logger ? { logger: this.logger.child({ session: info.id }) } : {}),
    });
    this.sessions.set(info.id, session);
    this.logger?.debug({ session: info.id, name: info.name, methods: info.methods.length }, 'session opened');
    for (const waiter of this.waiters.get(info.id) ?? []) waiter.resolve(session);
    this.waiters.delete(info.id);
    return session.closed.then(() => {
      if (this.sessions.get(info.id) === session) this.sessions.delete(info.id);
    });
  }

  /**
   * The open session with this id, waiting up to `timeoutMs` (default 5000) for it to arrive.
   * Throws SessionNotFoundError on timeout, SessionCanceledError when `signal` aborts,
   * SessionEndedError after close().
   */
  get(id: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Session> {
    const existing = this.sessions.get(id);
    if (existing && !existing.signal.aborted) return Promise.resolve(existing);
    if (this.closedError)
      return Promise.reject(new SessionEndedError({ sessionId: id, cause: this.closedError }));
    const { timeoutMs = 5000, signal } = options;
    return new Promise<Session>((resolve, reject) => {
      const set = this.waiters.get(id) ?? new Set<Waiter>();
      this.waiters.set(id, set);
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(waiter);
        if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
      };
      const waiter: Waiter = {
        resolve: (session) => {
          cleanup();
          resolve(session);
        },
        reject: (err) => {
          cleanup();
          reject(err);
        },
      };
      const onAbort = (): void => {
        cleanup();
        reject(new SessionCanceledError({ operation: `waiting for session ${id}`, cause: signal?.reason }));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new SessionNotFoundError({ sessionId: id, timeoutMs }));
      }, timeoutMs);
      set.add(waiter);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Ends every session; pending and later get()s fail with SessionEndedError. Idempotent. */
  close(): void {
    this.closedError ??= new Error('session manager closed');
    for (const session of this.sessions.values()) session.close();
    this.sessions.clear();
    for (const [id, set] of this.waiters) {
      for (const waiter of [...set])
        waiter.reject(new SessionEndedError({ sessionId: id, cause: this.closedError }));
    }
    this.waiters.clear();
  }
}

/** Reads the x-docker-expose-session-* metadata; grpc-js folds repeated values into "a, b". */
export function parseSessionMetadata(metadata: Metadata): SessionInfo {
  const first = (key: string): string => {
    const value = metadata.get(key)[0];
    return value === undefined ? '' : value.toString().trim();
  };
  const id = first(HEADER_UUID);
  if (!id) throw new SessionMetadataError({ header: HEADER_UUID });
  const methods = metadata
    .get(HEADER_METHOD)
    .flatMap((value) => value.toString().split(','))
    .map((m) => m.trim())
    .filter((m) => m.length > 0);
  return { id, name: first(HEADER_NAME), sharedKey: first(HEADER_SHARED_KEY), methods };
}
