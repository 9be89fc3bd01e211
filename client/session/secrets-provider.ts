import { readFile } from 'node:fs/promises';
import type { Server, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { grpcServiceDefinition } from '../../proto/index.js';
import {
  GetSecretResponseSchema,
  Secrets,
  type GetSecretRequest,
  type GetSecretResponse,
} from '../../proto/gen/moby/buildkit/secrets/v1/secrets_pb.js';
import { addService, grpcError, type SessionProvider } from './provider.js';

/** Where one secret comes from: a file (read at each request), an environment variable, or a value. */
export type SecretSource = { file: string } | { env: string } | { value: Uint8Array | string };

/**
 * Serves Secrets.GetSecret (`--secret id=…,src=…` / `env=…`). Unknown ids answer NotFound.
 * `env` is the environment to read `{ env }` sources from (the caller passes process.env).
 * Values are never logged.
 */
export class SecretsProvider implements SessionProvider {
  private readonly secrets: ReadonlyMap<string, SecretSource>;
  private readonly env: Readonly<Record<string, string | undefined>>;

  constructor(options: { secrets: Record<string, SecretSource>; env?: Record<string, string | undefined> }) {
    this.secrets = new Map(Object.entries(options.secrets));
    this.env = options.env ?? {};
  }

  register(server: Server): string[] {
    return addService(server, grpcServiceDefinition(Secrets), {
      getSecret: (
        call: ServerUnaryCall<GetSecretRequest, GetSecretResponse>,
        callback: sendUnaryData<GetSecretResponse>,
      ) => {
        this.read(call.request.ID).then(
          (data) =>
            data
              ? callback(null, create(GetSecretResponseSchema, { data }))
              : callback(grpcError(status.NOT_FOUND, `secret ${call.request.ID} not found`)),
          (err: unknown) =>
            callback(grpcError(status.UNAVAILABLE, `secret ${call.request.ID}: ${(err as Error).message}`)),
        );
      },
    });
  }

  private async read(id: string): Promise<Uint8Array | undefined> {
    const source = this.secrets.get(id);
    if (!source) return undefined;
    if ('file' in source) return readFile(source.file);
    if ('env' in source) {
      const value = this.env[source.env];
      return value === undefined ? undefined : Buffer.from(value);
    }
    return typeof source.value === 'string' ? Buffer.from(source.value) : source.value;
  }
}
