import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../../proto/gen/grpc/health/v1/health_pb.js';
import { Control } from '../../proto/gen/moby/buildkit/v1/control_pb.js';
import { normalizePlatform, type Platform } from '../../oci/index.js';
import { ServiceClient, type ConnectOptions } from '../grpc-client.js';
import type { BuilderNode } from './builder.js';

/** A node as the router found it. */
export interface NodeStatus {
  readonly node: BuilderNode;
  /**
   * `serving` takes builds; `draining` said NOT_SERVING (shutting down, finishing its builds);
   * `unreachable` did not answer within the timeout or refused the call.
   */
  readonly state: 'serving' | 'draining' | 'unreachable';
  /** Native platforms: the declared ones, else the first (default) platform of each worker. */
  readonly native: readonly Platform[];
  /** Why the node is not serving. */
  readonly reason?: string;
}

function connectOptions(node: BuilderNode): ConnectOptions {
  const tls = node.tls;
  if (!tls) return {};
  const buf = (v: Buffer | string | undefined) => (v === undefined ? undefined : Buffer.from(v));
  return {
    tls: {
      ...(tls.ca ? { ca: buf(tls.ca)! } : {}),
      ...(tls.cert ? { cert: buf(tls.cert)! } : {}),
      ...(tls.key ? { key: buf(tls.key)! } : {}),
      ...(tls.serverName ? { serverName: tls.serverName } : {}),
    },
  };
}

const grpcCode = (err: unknown): number | undefined => (err as { code?: unknown }).code as number | undefined;
const message = (err: unknown): string => (err as { details?: string }).details || (err as Error).message;

/**
 * Asks one node whether it takes builds (grpc.health.v1 Check on the control socket) and, with
 * `platforms`, which platforms it runs natively (Control.ListWorkers: the first platform of a
 * worker is its default, the one it runs without emulation). A daemon without the health service
 * (buildkitd v0.11) counts as serving when ListWorkers answers. Both calls run at once, each
 * bounded by `timeoutMs`; the channel is closed before returning. Never throws: a failure is an
 * `unreachable` status with its reason.
 */
export async function probeNode(
  node: BuilderNode,
  options: { timeoutMs: number; platforms: boolean; signal?: AbortSignal },
): Promise<NodeStatus> {
  const health = new ServiceClient(Health, node.address, connectOptions(node));
  const control = new ServiceClient(Control, node.address, connectOptions(node), health.raw);
  const deadline = new Date(Date.now() + options.timeoutMs);
  const call = { deadline, ...(options.signal ? { signal: options.signal } : {}) };
  try {
    const askWorkers = options.platforms && !node.platforms;
    const [check, workers] = await Promise.allSettled([
      health.unary('check', { service: '' }, call),
      askWorkers ? control.unary('listWorkers', { filter: [] }, call) : Promise.resolve(undefined),
    ]);
    const native =
      node.platforms ??
      (workers.status === 'fulfilled' && workers.value
        ? workers.value.record.flatMap((w) => {
            const p = w.platforms[0];
            return p
              ? [normalizePlatform({ os: p.OS, architecture: p.Architecture, variant: p.Variant })]
              : [];
          })
        : []);
    if (check.status === 'fulfilled') {
      if (check.value.status === ServingStatus.SERVING) return { node, state: 'serving', native };
      return { node, state: 'draining', native, reason: `health is ${ServingStatus[check.value.status]}` };
    }
    if (grpcCode(check.reason) === 12) {
      // No health service: whether the node answers at all decides.
      if (workers.status === 'fulfilled') return { node, state: 'serving', native };
      const answer = askWorkers
        ? workers
        : await control.unary('listWorkers', { filter: [] }, call).then(
            () => ({ status: 'fulfilled' }) as const,
            (reason: unknown) => ({ status: 'rejected', reason }) as const,
          );
      if (answer.status === 'fulfilled') return { node, state: 'serving', native };
      return { node, state: 'unreachable', native, reason: message(answer.reason) };
    }
    return { node, state: 'unreachable', native, reason: message(check.reason) };
  } finally {
    control.close();
    health.close();
  }
}
