import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Frontend, type GatewayServices, Job, JobGateway } from './index.js';

function job(): Job {
  return new Job({
    ref: 'gateway-test',
    sessionId: '',
    frontend: '',
    frontendAttrs: {},
    exporters: [],
    cacheExports: [],
    cacheImports: [],
    entitlements: new Set(),
  });
}

/** A gateway whose only services are frontends (enough for frontend requests). */
function gatewayWith(frontends: Record<string, Frontend>): JobGateway {
  const services = { frontends: new Map(Object.entries(frontends)), workerPlatforms: [] };
  return new JobGateway(job(), services as unknown as GatewayServices);
}

// docker buildx drives builds with a client-side build function: Control.Solve names no frontend
// and the client asks LLBBridge.Solve for dockerfile.v0. BuildKit's provenance names the frontend
// (and arguments) of the request the result came from; kiln recorded an empty frontend.
describe('JobGateway.frontendOf (provenance of a client-side build, docker buildx)', () => {
  const scratch: Frontend = async (_client, _signal, gateway) => ({
    ref: gateway!.hold({ snapshot: undefined }),
    metadata: new Map(),
  });

  it('names the frontend request whose result the client returns', async () => {
    const gateway = gatewayWith({ 'dockerfile.v0': scratch });
    const opts = { filename: 'Dockerfile', 'build-arg:A': 'x' };
    const result = await gateway.solve({ frontend: 'dockerfile.v0', frontendOpt: opts });
    assert.deepEqual(gateway.frontendOf(result), { frontend: 'dockerfile.v0', frontendOpt: opts });
  });

  it('names the outer frontend when a frontend returns the result of another (as BuildKit)', async () => {
    const outer: Frontend = (client) => client.solve({ frontend: 'inner', frontendOpt: { x: '1' } });
    const gateway = gatewayWith({ inner: scratch, outer });
    const result = await gateway.solve({ frontend: 'outer', frontendOpt: { y: '2' } });
    assert.deepEqual(gateway.frontendOf(result), { frontend: 'outer', frontendOpt: { y: '2' } });
  });

  it('names none for refs no frontend produced, and for multi-platform results finds any ref', async () => {
    const gateway = gatewayWith({
      multi: async (_client, _signal, g) => ({
        refs: new Map([['linux/arm64', g!.hold({ snapshot: undefined })]]),
        metadata: new Map(),
      }),
    });
    assert.equal(
      gateway.frontendOf({ ref: gateway.hold({ snapshot: undefined }), metadata: new Map() }),
      undefined,
    );
    const result = await gateway.solve({ frontend: 'multi' });
    assert.deepEqual(gateway.frontendOf(result), { frontend: 'multi', frontendOpt: {} });
  });
});
