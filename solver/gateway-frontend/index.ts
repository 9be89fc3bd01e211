/**
 * The daemon side of `gateway.v0`: running frontend images in containers and serving them
 * LLBBridge over their stdio. `createGatewayFrontend` is registered by the daemon as the
 * `gateway.v0` frontend; the rest is exported for tests and for the daemon's wiring.
 */
export { createGatewayFrontend, idleTimeoutOption, type GatewayFrontendOptions } from './gateway-frontend.js';
export { FrontendBridge, type FrontendBridgeOptions, type GatewayErrorMapping } from './bridge-service.js';
export { GatewayContainers, type ContainerSnapshots, type GatewayContainersOptions } from './containers.js';
export {
  frontendNetwork,
  frontendProcess,
  type FrontendProcessInput,
  type FrontendWorker,
} from './frontend-process.js';
export {
  imageCaps,
  loadFrontendImage,
  type FrontendImage,
  type FrontendImageConfig,
} from './frontend-image.js';
export { runFrontendContainer, type FrontendRunDeps, type FrontendRunRequest } from './frontend-run.js';
export { serveLlbBridge } from './stdio-server.js';
export {
  ContainerProcessFailedError,
  FrontendCapsError,
  FrontendExitedError,
  FrontendImageError,
  FrontendImageUnavailableError,
  FrontendProtocolError,
  FrontendSourceMissingError,
  FrontendUnresponsiveError,
} from './errors.js';
