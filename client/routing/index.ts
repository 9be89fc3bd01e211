/**
 * Builders of several kilnd (or buildkitd) nodes: kilnctl's `--addr A --addr B` and `--builder
 * FILE`. Each build goes to a node that runs its platform natively, otherwise to the node that
 * consistent hashing on the build's context picks, so a project keeps its warm cache.
 */
export {
  type Builder,
  type BuilderNode,
  type TlsFileOptions,
  builderFromAddresses,
  loadBuilderFile,
} from './builder.js';
export { BuilderFileError, NoNodeAvailableError, type NodeFailure } from './errors.js';
export { type NodeStatus, probeNode } from './probe.js';
export { rendezvousOrder } from './rendezvous.js';
export { type RouteRequest, affinityOption, routeRequest } from './route-request.js';
export { type RouteDecision, describeDecision, routeBuild } from './router.js';
export { type NodeTarget, routeRequestFromFlags, selectNode } from './select-node.js';
