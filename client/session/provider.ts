import type { Server, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';

/**
 * Something the client serves inside a session (FileSync, FileSend, Auth, Secrets, SSH).
 * register() adds its services to the session's in-tunnel gRPC server and returns the method
 * paths it serves; they are announced as `x-docker-expose-session-grpc-method`.
 */
export interface SessionProvider {
  register(server: Server): string[];
}

/** Adds a service and returns its method paths. */
export function addService(
  server: Server,
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
): string[] {
  server.addService(definition, implementation);
  return Object.keys(implementation).map((key) => (definition[key] as { path: string }).path);
}

/** A gRPC error grpc-js sends as the call's status. */
export function grpcError(code: number, details: string): Error & { code: number; details: string } {
  return Object.assign(new Error(details), { code, details });
}
