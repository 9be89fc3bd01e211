import type { FrontendClient, GatewayResult } from '../../../frontend/index.js';
import { local, marshal } from '../../../llb/index.js';
import { formatPlatform } from '../../../oci/index.js';
import { imageConfig, toLlb, type ImageConfig } from './build.js';
import { parseSpec, SpecError } from './spec.js';

/**
 * A frontend that builds an image from a JSON spec (see spec.ts) instead of a Dockerfile. It reads
 * the spec from the `dockerfile` local (option `filename`, default `build.json`), resolves the base
 * image, turns the spec into LLB, solves it and returns the result with its image config — the
 * same contract the built-in Dockerfile frontend fulfils, written against kiln's frontend SDK.
 */
export async function jsonFrontend(client: FrontendClient, signal: AbortSignal): Promise<GatewayResult> {
  const filename = client.frontendOpt.filename || 'build.json';
  const platform = client.workerPlatforms[0];
  const caps = client.llbCaps;
  const specSource = local(client.frontendOpt.dockerfilekey || 'dockerfile', {
    sessionId: client.sessionId,
    includePatterns: [filename],
    sharedKeyHint: filename,
  });
  const loaded = await client.solve({ definition: marshal(specSource, { caps }) }, signal);
  if (!loaded.ref) throw new SpecError(filename, 'the spec could not be loaded');
  const spec = parseSpec(filename, await client.readFile(loaded.ref, filename));
  client.warn(`json-frontend: building ${spec.steps.length} step(s) on ${spec.base}`);

  const base = await client.resolveImageConfig(spec.base, {
    ...(platform ? { platform } : {}),
    logName: `[internal] load metadata for ${spec.base}`,
  });
  const baseConfig = JSON.parse(Buffer.from(base.config).toString('utf8')) as ImageConfig;
  const state = toLlb(spec, { baseRef: base.ref, baseConfig, sessionId: client.sessionId });
  const result = await client.solve(
    { definition: marshal(state, { caps, ...(platform ? { platform } : {}) }) },
    signal,
  );
  if (!result.ref) throw new SpecError(filename, 'the build produced no result');
  const config = imageConfig(spec, state, baseConfig);
  const id = platform ? formatPlatform(platform) : 'linux/amd64';
  return {
    ref: result.ref,
    metadata: new Map([
      ['containerimage.config', Buffer.from(JSON.stringify(config))],
      [
        'refs.platforms',
        Buffer.from(
          JSON.stringify({
            Platforms: [{ ID: id, Platform: { os: config.os, architecture: config.architecture } }],
          }),
        ),
      ],
    ]),
  };
}
