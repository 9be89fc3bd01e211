/**
 * The gateway side of kiln's frontends, and the SDK for writing one in TypeScript.
 *
 * - `gatewayCaps` / `gatewayExecCaps`: what the daemon's LLBBridge reports in Ping.
 * - `runFrontend(frontend)`: run a frontend as a gateway frontend image (`gateway.v0`): LLBBridge
 *   over stdin/stdout, options and session from the `BUILDKIT_*` environment, the result (or the
 *   error, with typed details) handed back through Return. The frontend gets a `FrontendClient`
 *   (the GatewayClient contract plus caps, Evaluate and containers) and builds LLB with `llb/`.
 * - `forwardToSyntaxFrontend`: the `# syntax=` hand-off from dockerfile.v0 to a frontend image.
 */
export { gatewayCaps, gatewayExecCaps } from './caps.js';
export {
  ContainerProcessError,
  FrontendEnvironmentError,
  GatewayCallError,
  GatewayConnectionError,
  SyntaxFrontendUnavailableError,
} from './errors.js';
export { errorStatus, kindOfCode } from './status.js';
export { GrpcConnection, GrpcCall } from './grpc-connection.js';
export { LlbBridgeClient, type ExecStream, type UnaryMethod } from './bridge-client.js';
export { readFrontendEnvironment, frontendOptPrefix, type FrontendEnvironment } from './frontend-env.js';
export { GrpcFrontendClient, fromPbResult, type FrontendClient } from './frontend-client.js';
export {
  GatewayContainer,
  type ContainerMount,
  type ContainerOptions,
  type ProcessExit,
  type ProcessOptions,
} from './container.js';
export { runFrontend, type FrontendFunction, type RunFrontendOptions } from './run-frontend.js';
export {
  forwardToSyntaxFrontend,
  syntaxFallbackOption,
  type SyntaxForwardOptions,
} from './syntax-forward.js';
