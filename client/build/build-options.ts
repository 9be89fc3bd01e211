import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Policy } from '../../proto/gen/moby/buildkit/v1/sourcepolicy/policy_pb.js';
import type { Definition } from '../../proto/gen/pb/ops_pb.js';
import type { CacheEntry } from '../options/cache.js';
import type { Entitlement } from '../options/secret.js';
import type { DockerConfig, SecretSource } from '../session/index.js';

/**
 * One exporter. `dest` is where the client receives the result: a directory for `local` (and
 * `oci`/`docker` with `tar: 'false'`), a file path or a Writable for `tar`, `oci`, `docker`;
 * exporters the daemon completes itself (`image` push) take none.
 */
export interface BuildOutput {
  readonly type: string;
  /** Exporter attrs, e.g. `{ name: 'host/repo:tag', push: 'true' }`. */
  readonly attrs?: Readonly<Record<string, string>>;
  readonly dest?: string | Writable;
}

/** Options of `Client.build`; exactly one of `frontend` and `definition` is required. */
export interface BuildOptions {
  /** Frontend name, e.g. `dockerfile.v0` (then `locals` usually has `context` and `dockerfile`). */
  readonly frontend?: string;
  /** Frontend options (`--opt`): `target`, `build-arg:K`, `platform`, `filename`, … */
  readonly frontendOpts?: Readonly<Record<string, string>>;
  /** LLB to build instead of a frontend: a Definition (e.g. from `kiln/llb`'s marshal) or its bytes. */
  readonly definition?: Definition | Uint8Array;
  /** Local directories the build may read, by name (`--local name=dir`). */
  readonly locals?: Readonly<Record<string, string>>;
  readonly outputs?: readonly BuildOutput[];
  readonly cacheExports?: readonly CacheEntry[];
  readonly cacheImports?: readonly CacheEntry[];
  /** Secrets by id: `{ file }`, `{ env }` (read from `env`) or `{ value }`. */
  readonly secrets?: Readonly<Record<string, SecretSource>>;
  /** SSH agent sockets by id (`default` is what `RUN --mount=type=ssh` uses). */
  readonly ssh?: Readonly<Record<string, string>>;
  /** Entitlements (`network.host`, `security.insecure`); the daemon must allow them too. */
  readonly allow?: readonly Entitlement[];
  /** OCI layout directories the build may read images from, by store name (`--oci-layout name=dir`). */
  readonly ociLayouts?: Readonly<Record<string, string>>;
  /** A source policy (`--source-policy-file`): allow, deny or convert sources. */
  readonly sourcePolicy?: Policy;
  /** Ignore the cache for every step. */
  readonly noCache?: boolean;
  /**
   * Registry credentials served to the daemon: a docker config file (`~/.docker/config.json` by
   * default, with its credential helpers), an inline config, or `false` for none.
   */
  readonly auth?: { readonly configFile?: string; readonly config?: DockerConfig } | false;
  /** The environment `{ env }` secrets are read from (pass `process.env`); empty by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The build's ref (a random 25-character id by default). */
  readonly ref?: string;
  /** Session name shown by the daemon (buildctl: the working directory's basename). */
  readonly sessionName?: string;
  /** Cancels the build on the daemon. */
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** Receives non-fatal notices (a missing local cache import is skipped with a warning). */
  readonly onWarning?: (message: string) => void;
}

/** What a finished build returns. */
export interface BuildResult {
  /** The build's ref (history, `--ref-file`). */
  readonly ref: string;
  /** The exporter response: `containerimage.digest`, `containerimage.descriptor`, `image.name`, … */
  readonly response: Readonly<Record<string, string>>;
  /** Metadata the frontend returned (`result.txt` etc. for sub-requests). */
  readonly metadata: Readonly<Record<string, Uint8Array>>;
}
