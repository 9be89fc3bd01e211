import type { GatewayClient } from '../../../solver/index.js';
import type { Platform } from '../../../oci/index.js';
import { formatPlatformArg } from '../build-args.js';
import {
  type ContextSource,
  type ResolvedImage,
  imageContextKey,
  imageKey,
  stageContextKey,
} from '../convert/types.js';
import { DockerfileError } from '../errors.js';
import { parsePlatformSpec } from '../plan-prepare.js';
import type { PlanOptions } from '../plan.js';
import { neededStages, requiredImages } from '../required-images.js';
import { type NamedContextLookup, parseImageConfig } from './named-contexts.js';

/** What a conversion needs fetched first: base and `--from` images, named contexts. */
export interface ConversionInputs {
  readonly images: ReadonlyMap<string, ResolvedImage>;
  readonly contexts: ReadonlyMap<string, ContextSource>;
}

/**
 * Fetches, in parallel, what converting the Dockerfile for one target platform needs: the named
 * contexts that replace stages or images, then the configs of the other images the needed stages
 * use (each `ref`+platform once), through the gateway with BuildKit's progress names
 * (`[internal] load metadata for …`, `[linux/arm64 internal] …` in multi-platform builds).
 *
 * Throws DockerfileError at the line naming an image that cannot be resolved (message
 * `<name>: <cause>`, the cause kept), and whatever named contexts throw.
 */
export async function resolveConversionInputs(opts: {
  client: GatewayClient;
  plan: Omit<PlanOptions, 'resolveImage'>;
  lookup: NamedContextLookup;
  resolveMode: 'default' | 'pull' | 'local';
  prefixPlatform: boolean;
}): Promise<ConversionInputs> {
  const { client, plan } = opts;
  const target = plan.targetPlatform ?? plan.buildPlatform;
  const contexts = new Map<string, ContextSource>();
  await Promise.all(
    neededStages(plan).map(async (node) => {
      if (node.stage.name === undefined) return;
      let platform: Platform = target;
      if (node.platform !== undefined) {
        try {
          platform = parsePlatformSpec(node.platform, plan.buildPlatform);
        } catch {
          return; // planning reports the bad platform at its line
        }
      }
      const found = await opts.lookup(node.stage.name, platform);
      if (found) contexts.set(stageContextKey(node.stage.index), found);
    }),
  );
  const replacedStages = new Map([...contexts].map(([k, v]) => [Number(k.slice('stage:'.length)), v.image]));
  const needed = requiredImages({ ...plan, replacedStages });
  const images = new Map<string, ResolvedImage>();
  const pending = new Map<string, Promise<void>>();
  await Promise.all(
    needed.map(async (req) => {
      const context = await opts.lookup(req.ref, req.platform);
      if (context) {
        contexts.set(imageContextKey(req.ref), context);
        return;
      }
      const key = imageKey(req.ref, req.platform);
      let job = pending.get(key);
      if (!job) {
        const prefix = opts.prefixPlatform ? `[${formatPlatformArg(req.platform)} internal]` : '[internal]';
        job = (async () => {
          try {
            const resolved = await client.resolveImageConfig(req.ref, {
              platform: req.platform,
              resolveMode: opts.resolveMode,
              logName: `${prefix} load metadata for ${req.ref}`,
            });
            images.set(key, { digest: resolved.digest, config: parseImageConfig(resolved.config, req.ref) });
          } catch (err) {
            throw new DockerfileError({
              reason: `${req.name}: ${(err as Error).message}`,
              startLine: req.location.start,
              endLine: req.location.end,
              cause: err,
            });
          }
        })();
        pending.set(key, job);
      }
      await job;
    }),
  );
  return { images, contexts };
}
