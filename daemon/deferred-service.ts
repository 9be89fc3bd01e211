import type { ServiceDefinition, ServiceError, UntypedServiceImplementation } from '@grpc/grpc-js';
import { failStream, toServiceError } from './grpc-status.js';

/**
 * A service whose implementation is still being built: the daemon listens at once and calls wait
 * here until it is ready (so clients never see a refused connection during start-up). If start-up
 * fails, waiting calls fail with that error.
 */
export function deferredService(
  definition: ServiceDefinition,
  implementation: Promise<UntypedServiceImplementation>,
): UntypedServiceImplementation {
  // Observed here so an early failure is not reported as unhandled before a call arrives.
  implementation.catch(() => {});
  const handlers: UntypedServiceImplementation = {};
  for (const method of Object.keys(definition)) {
    handlers[method] = ((
      call: { emit(event: 'error', e: ServiceError): boolean },
      callback?: (e: Error) => void,
    ) => {
      implementation.then(
        (impl) => (impl[method] as (...args: unknown[]) => void)(call, callback),
        (err: unknown) => (callback ? callback(toServiceError(err)) : failStream(call, toServiceError(err))),
      );
    }) as UntypedServiceImplementation[string];
  }
  return handlers;
}
