import type { Server, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import { grpcServiceDefinition } from '../../proto/index.js';
import {
  Auth,
  CredentialsResponseSchema,
  FetchTokenResponseSchema,
  type CredentialsRequest,
  type CredentialsResponse,
  type FetchTokenRequest,
  type FetchTokenResponse,
} from '../../proto/gen/moby/filesync/v1/auth_pb.js';
import {
  lookupCredentials,
  readDockerConfig,
  type DockerConfig,
  type HostCredentials,
} from './docker-config.js';
import { addService, grpcError, type SessionProvider } from './provider.js';

/**
 * Serves Auth.Credentials and Auth.FetchToken from a docker config (`auths`, `credsStore`,
 * `credHelpers`), so the daemon holds no credentials: for FetchToken the client itself does the
 * bearer exchange (OAuth POST with credentials, falling back to GET; anonymous GET without).
 * Credentials and tokens are never logged.
 */
export class AuthProvider implements SessionProvider {
  private readonly config: Promise<DockerConfig>;
  private readonly logger: Logger | undefined;

  /** `configFile` (e.g. `~/.docker/config.json`, resolved by the caller) or an inline `config`. */
  constructor(options: { configFile?: string; config?: DockerConfig; logger?: Logger }) {
    this.config = options.config
      ? Promise.resolve(options.config)
      : options.configFile
        ? readDockerConfig(options.configFile)
        : Promise.resolve({});
    this.config.catch(() => undefined);
    this.logger = options.logger;
  }

  register(server: Server): string[] {
    return addService(server, grpcServiceDefinition(Auth), {
      credentials: (
        call: ServerUnaryCall<CredentialsRequest, CredentialsResponse>,
        callback: sendUnaryData<CredentialsResponse>,
      ) => {
        this.lookup(call.request.Host).then(
          (creds) =>
            callback(
              null,
              create(
                CredentialsResponseSchema,
                creds ? { Username: creds.username, Secret: creds.secret } : {},
              ),
            ),
          (err: unknown) => callback(grpcError(status.UNAVAILABLE, (err as Error).message)),
        );
      },
      fetchToken: (
        call: ServerUnaryCall<FetchTokenRequest, FetchTokenResponse>,
        callback: sendUnaryData<FetchTokenResponse>,
      ) => {
        this.fetchToken(call.request).then(
          (response) => callback(null, response),
          (err: unknown) => {
            this.logger?.debug(
              { host: call.request.Host, message: (err as Error).message },
              'token exchange failed',
            );
            callback(grpcError(status.UNAVAILABLE, (err as Error).message));
          },
        );
      },
    });
  }

  private async lookup(host: string): Promise<HostCredentials | undefined> {
    return lookupCredentials(await this.config, host);
  }

  private async fetchToken(request: FetchTokenRequest): Promise<FetchTokenResponse> {
    const creds = await this.lookup(request.Host);
    const scopes = request.Scopes;
    let body: { token?: string; access_token?: string; expires_in?: number; issued_at?: string } | undefined;
    if (creds?.secret) {
      const form = new URLSearchParams({
        client_id: request.ClientID || 'buildkit-client',
        service: request.Service,
      });
      if (scopes.length) form.set('scope', scopes.join(' '));
      if (creds.username) {
        form.set('grant_type', 'password');
        form.set('username', creds.username);
        form.set('password', creds.secret);
      } else {
        form.set('grant_type', 'refresh_token');
        form.set('refresh_token', creds.secret);
      }
      const response = await fetch(request.Realm, { method: 'POST', body: form });
      if (response.ok) body = (await response.json()) as typeof body;
      else if (![400, 404, 405].includes(response.status) || !creds.username) {
        throw new Error(`token server ${request.Realm} answered ${response.status} to the OAuth request`);
      }
    }
    if (!body) {
      const url = new URL(request.Realm);
      if (request.Service) url.searchParams.set('service', request.Service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      if (creds?.username)
        headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.secret}`).toString('base64')}`;
      const response = await fetch(url, { headers });
      if (!response.ok) throw new Error(`token server ${request.Realm} answered ${response.status}`);
      body = (await response.json()) as typeof body;
    }
    const token = body?.access_token || body?.token;
    if (!token) throw new Error(`token server ${request.Realm} returned no token`);
    const issuedAt = body?.issued_at
      ? Math.floor(Date.parse(body.issued_at) / 1000)
      : Math.floor(Date.now() / 1000);
    return create(FetchTokenResponseSchema, {
      Token: token,
      ExpiresIn: BigInt(body?.expires_in ?? 0),
      IssuedAt: BigInt(Number.isFinite(issuedAt) ? issuedAt : 0),
    });
  }
}
