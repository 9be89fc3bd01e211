/**
 * The frontends kilnd runs itself. `dockerfileFrontend` is registered as `dockerfile.v0`: it sees
 * the solver only through the gateway client (`solve`, `readFile`, `resolveImageConfig`, `warn`),
 * the same contract an external `# syntax=` frontend gets. `gatewayCaps` lists the gateway
 * capabilities kilnd reports in LLBBridge.Ping.
 *
 * The frontend SDK (`kiln/frontend`): `runFrontend(frontend)` runs a frontend as a gateway frontend
 * image (LLBBridge over stdin/stdout); write the frontend against `FrontendClient` (the gateway
 * contract below plus caps and containers) and build its LLB with `kiln/llb`.
 * `forwardToSyntaxFrontend` is the `# syntax=` hand-off to such an image.
 */
export { dockerfileFrontend } from './dockerfile/index.js';
export {
  ContainerProcessError,
  FrontendEnvironmentError,
  GatewayCallError,
  GatewayConnectionError,
  GatewayContainer,
  GrpcFrontendClient,
  SyntaxFrontendUnavailableError,
  forwardToSyntaxFrontend,
  gatewayCaps,
  gatewayExecCaps,
  runFrontend,
  syntaxFallbackOption,
  type ContainerMount,
  type ContainerOptions,
  type FrontendClient,
  type FrontendFunction,
  type ProcessExit,
  type ProcessOptions,
  type RunFrontendOptions,
} from './gateway/index.js';
export type {
  FileStat,
  Frontend,
  GatewayClient,
  GatewayRef,
  GatewayResult,
  GatewaySolveRequest,
  ResolveImageOptions,
  ResolvedImageConfig,
} from '../solver/index.js';
