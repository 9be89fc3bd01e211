import type { ContentStore } from '../content/index.js';
import { formatReference } from '../oci/index.js';
import type { ImageConfigResolver } from './gateway.js';
import type { ResolvedImageConfig, ResolveImageOptions } from './gateway-client.js';
import type { Job } from './job.js';
import type { RegistryAccess } from './registry-access.js';
import { SyntheticVertex } from './synthetic-vertex.js';

/** Resolves image configs for frontends, as a `[internal] load metadata for …` step of the build. */
export class RegistryImageConfigResolver implements ImageConfigResolver {
  constructor(
    private readonly registries: RegistryAccess,
    private readonly store: ContentStore,
  ) {}

  async resolve(
    ref: string,
    options: ResolveImageOptions & { job: Job; signal: AbortSignal },
  ): Promise<ResolvedImageConfig> {
    const client = this.registries.forSessions(options.job.sessionIds);
    const resolve = async (): Promise<ResolvedImageConfig> => {
      const resolved = await client.resolveImageConfig(ref, {
        store: this.store,
        signal: options.signal,
        ...(options.platform ? { platform: options.platform } : {}),
        ...(options.resolveMode ? { mode: options.resolveMode } : {}),
      });
      return {
        digest: resolved.digest,
        config: resolved.bytes,
        ref: formatReference({ ...resolved.reference, digest: resolved.digest }),
      };
    };
    if (!options.logName) return resolve();
    return new SyntheticVertex(options.job.progress, options.logName).run(resolve);
  }
}
