/**
 * The frontends kilnd runs itself. `dockerfileFrontend` is registered as `dockerfile.v0`: it sees
 * the solver only through the gateway client (`solve`, `readFile`, `resolveImageConfig`, `warn`),
 * the same contract an external `# syntax=` frontend gets. `gatewayCaps` lists the gateway
 * capabilities kilnd reports in LLBBridge.Ping.
 */
export { dockerfileFrontend } from './dockerfile/index.js';
export { gatewayCaps } from './gateway/index.js';
