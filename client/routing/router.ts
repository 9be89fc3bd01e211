import { formatPlatform, platformRank, type Platform } from '../../oci/index.js';
import type { Builder, BuilderNode } from './builder.js';
import { NoNodeAvailableError } from './errors.js';
import { probeNode, type NodeStatus } from './probe.js';
import { rendezvousOrder } from './rendezvous.js';
import type { RouteRequest } from './route-request.js';

/** Where a build (or another command) goes, and why. */
export interface RouteDecision {
  readonly node: BuilderNode;
  /**
   * `platform`: the node runs the requested platform natively (hashing among such nodes);
   * `affinity`: consistent hashing on the build's identity among the nodes native for the
   * builder's default platform (or all, see `emulated`); `first`: not a build, the first serving
   * node.
   */
  readonly reason: 'platform' | 'affinity' | 'first';
  /** The platform the build targets: the requested one, or the builder's default. */
  readonly platform?: Platform;
  /** No serving node runs `platform` natively; the chosen one emulates it. */
  readonly emulated?: boolean;
  /** Every node's status, in the builder's order. */
  readonly statuses: readonly NodeStatus[];
}

function pick(nodes: readonly BuilderNode[], key: string): BuilderNode {
  const best = rendezvousOrder(
    nodes.map((n) => n.name),
    key,
  )[0];
  return nodes.find((n) => n.name === best)!;
}

/**
 * Chooses a node of `builder` for a build described by `request` (none for commands that are
 * not builds). Probes every node at once (health and native platforms); only serving nodes are
 * candidates. A build for one platform goes to a node that runs it natively; a build that names
 * no platform builds for the builder's default platform (the native platform of the first node
 * in the builder's order whose platforms are known, as a multi-node buildx builder does; a
 * draining or declared-but-unreachable first node still sets it), so it goes to a
 * node native for that one and the image does not change architecture with the node. Among the
 * candidates, rendezvous hashing on the build's affinity picks, so a project keeps landing on
 * the node whose cache it warmed and a node leaving moves only its own projects. When no serving
 * node is native for the platform, hashing runs over all serving nodes (emulated builds).
 * Costs one round trip per node, in parallel. Throws NoNodeAvailableError when none serves.
 */
export async function routeBuild(
  builder: Builder,
  request: RouteRequest | undefined,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<RouteDecision> {
  const statuses = await Promise.all(
    builder.nodes.map((node) =>
      probeNode(node, {
        timeoutMs: options.timeoutMs,
        platforms: request !== undefined,
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    ),
  );
  options.signal?.throwIfAborted();
  const serving = statuses.filter((s) => s.state === 'serving');
  if (serving.length === 0) {
    throw new NoNodeAvailableError({
      nodes: statuses.map((s) => ({
        name: s.node.name,
        address: s.node.address,
        state: s.state === 'draining' ? 'draining' : 'unreachable',
        reason: s.reason ?? 'not serving',
      })),
    });
  }
  if (!request) return { node: serving[0]!.node, reason: 'first', statuses };
  // The default platform comes from the builder's order, draining nodes included: a first node
  // leaving must not turn the project's image into another architecture.
  const platform = request.platform ?? statuses.find((s) => s.native.length > 0)?.native[0];
  const native = platform
    ? serving.filter((s) => s.native.some((p) => platformRank(p, platform) !== undefined))
    : [];
  const candidates = native.length > 0 ? native : serving;
  return {
    node: pick(
      candidates.map((s) => s.node),
      request.affinity,
    ),
    reason: request.platform && native.length > 0 ? 'platform' : 'affinity',
    ...(platform ? { platform } : {}),
    emulated: native.length === 0,
    statuses,
  };
}

/** One line for `--debug`: which node, why, and what the others were doing. */
export function describeDecision(decision: RouteDecision, request: RouteRequest | undefined): string {
  const n = decision.node;
  let why = 'first serving node (not a build)';
  if (request) {
    const key =
      request.affinitySource === 'none'
        ? 'hashing (no context or kiln.affinity to key on)'
        : `hashing on the build's ${request.affinitySource === 'option' ? 'kiln.affinity' : 'context'} ${JSON.stringify(request.affinity.split('\n')[0])}`;
    const p = decision.platform ? formatPlatform(decision.platform) : 'unknown';
    const target =
      decision.reason === 'platform'
        ? `runs ${p} natively`
        : decision.emulated
          ? `no serving node runs ${p} natively`
          : `native for ${p}${request.platform ? '' : " (the builder's default platform)"}`;
    why = `${target}; ${key}`;
  }
  const others = decision.statuses
    .filter((s) => s.node !== n)
    .map(
      (s) =>
        `${s.node.name}=${s.state}${s.native.length ? `[${s.native.map(formatPlatform).join(',')}]` : ''}`,
    );
  return `builder: node ${JSON.stringify(n.name)} (${n.address}) chosen: ${why}${others.length ? `; others: ${others.join(' ')}` : ''}`;
}
