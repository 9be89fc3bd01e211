import { mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { create, fromBinary } from '@bufbuild/protobuf';
import { sha256 } from '../../oci/index.js';
import { DefinitionSchema, OpMetadataSchema, type Definition } from '../../proto/gen/pb/ops_pb.js';
import { ClientUsageError } from '../errors.js';
import { GoMap, GoStruct, goJson } from '../format/go-json.js';
import { destinationKind } from '../options/output.js';
import {
  AuthProvider,
  FileSendProvider,
  FileSyncProvider,
  SecretsProvider,
  SshProvider,
  type SessionProvider,
} from '../session/index.js';
import type { BuildOptions } from './build-options.js';
import { ContentStoreProvider } from './content-store-provider.js';
import { getIndexTag, putIndexTag } from './oci-index.js';

/** Everything a build sends, derived from BuildOptions before anything is opened. */
export interface PreparedBuild {
  readonly providers: SessionProvider[];
  readonly exporters: Array<{ Type: string; Attrs: Record<string, string> }>;
  readonly cacheExports: Array<{ Type: string; Attrs: Record<string, string> }>;
  readonly cacheImports: Array<{ Type: string; Attrs: Record<string, string> }>;
  readonly frontend: string;
  readonly frontendAttrs: Record<string, string>;
  readonly definition: Definition | undefined;
  /** Client-side steps after `Control.Solve` answered (index.json of local caches and OCI dirs). */
  readonly finish: (response: Readonly<Record<string, string>>) => Promise<void>;
}

function usage(message: string, option?: string): ClientUsageError {
  return new ClientUsageError({ message, ...(option ? { option } : {}) });
}

async function checkDirectory(dir: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    throw usage(`could not find ${dir}: ${(err as Error).message}`, 'locals');
  }
  if (!isDir) throw usage(`${dir} not a directory`, 'locals');
}

/** Sets ignore_cache on every op, as buildctl does for stdin LLB with `--no-cache`. */
function withoutCache(def: Definition): Definition {
  const metadata = { ...def.metadata };
  for (const op of def.def) {
    const digest = sha256(op);
    const md = metadata[digest] ?? create(OpMetadataSchema);
    metadata[digest] = { ...md, ignoreCache: true };
  }
  return create(DefinitionSchema, { ...def, metadata });
}

/**
 * Validates BuildOptions and turns them into solve fields and session providers, following
 * buildctl's client rules (§10 of the wire reference): `dest` handling per exporter, local cache
 * stores, `cache-imports` for the frontend, `--no-cache`. Creates local cache and OCI output
 * directories. Throws ClientUsageError for inconsistent options.
 */
export async function prepareBuild(options: BuildOptions): Promise<PreparedBuild> {
  const frontend = options.frontend ?? '';
  const frontendAttrs: Record<string, string> = { ...options.frontendOpts };
  let definition: Definition | undefined;
  if (options.definition !== undefined) {
    if (frontend !== '') throw usage('a build takes either a frontend or a definition, not both');
    definition =
      options.definition instanceof Uint8Array
        ? fromBinary(DefinitionSchema, options.definition)
        : options.definition;
    if (definition.def.length === 0)
      throw usage('empty definition sent to build. Specify --frontend instead?');
    if (options.noCache) definition = withoutCache(definition);
  } else if (frontend === '') throw usage('please specify --frontend or pipe LLB definition to stdin');
  else if (options.noCache) frontendAttrs['no-cache'] = '';

  const providers: SessionProvider[] = [];
  const locals = options.locals ?? {};
  for (const dir of Object.values(locals)) await checkDirectory(dir);
  if (Object.keys(locals).length > 0) {
    providers.push(
      new FileSyncProvider({ dirs: { ...locals }, ...(options.logger ? { logger: options.logger } : {}) }),
    );
  }
  if (options.auth !== false) {
    const auth = options.auth ?? { configFile: join(homedir(), '.docker', 'config.json') };
    providers.push(new AuthProvider({ ...auth, ...(options.logger ? { logger: options.logger } : {}) }));
  }
  if (options.secrets && Object.keys(options.secrets).length > 0) {
    providers.push(new SecretsProvider({ secrets: { ...options.secrets }, env: { ...options.env } }));
  }
  if (options.ssh && Object.keys(options.ssh).length > 0)
    providers.push(new SshProvider({ agents: { ...options.ssh } }));

  const stores: Record<string, string> = {};
  const afterSolve: Array<(response: Readonly<Record<string, string>>) => Promise<void>> = [];
  const exporters: PreparedBuild['exporters'] = [];
  let fileSends = 0;
  for (const output of options.outputs ?? []) {
    const attrs = { ...output.attrs };
    const kind = destinationKind(output.type, attrs);
    const dest = output.dest;
    if (kind === 'none' && dest !== undefined) {
      throw usage(`output ${String(dest)} is not supported by ${output.type} exporter`, 'outputs');
    }
    if (kind === 'directory') {
      if (typeof dest !== 'string' || dest === '') {
        throw usage(`output directory is required for ${output.type} exporter`, 'outputs');
      }
      if (output.type === 'local') {
        fileSends++;
        providers.push(new FileSendProvider({ output: { type: 'directory', dir: dest } }));
      } else {
        await mkdir(dest, { recursive: true });
        stores['export'] = dest;
        afterSolve.push(async (response) => {
          const encoded = response['containerimage.descriptor'];
          if (!encoded) return;
          const descriptor = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as Parameters<
            typeof putIndexTag
          >[2];
          await putIndexTag(dest, response['image.name'] ?? 'latest', descriptor);
        });
      }
    }
    if (kind === 'file') {
      if (dest === undefined || dest === '') {
        throw usage(`output file writer is required for ${output.type} exporter`, 'outputs');
      }
      fileSends++;
      providers.push(
        new FileSendProvider({
          output:
            dest instanceof Writable
              ? { type: 'stream', writable: dest }
              : { type: 'file', path: String(dest) },
        }),
      );
    }
    exporters.push({ Type: output.type, Attrs: attrs });
  }
  if (fileSends > 1)
    throw usage('only one output can be sent back to the client (local, tar, oci or docker)', 'outputs');

  const cacheExports: PreparedBuild['cacheExports'] = [];
  for (const entry of options.cacheExports ?? []) {
    const attrs = { ...entry.attrs };
    if (entry.type === 'local') {
      const dir = attrs['dest'];
      if (!dir) throw usage('local cache exporter requires dest', 'cacheExports');
      await mkdir(dir, { recursive: true });
      stores[`local:${dir}`] = dir;
      const tag = attrs['tag'] ?? 'latest';
      afterSolve.push(async (response) => {
        const manifest = response['cache.manifest'];
        if (manifest) await putIndexTag(dir, tag, JSON.parse(manifest) as Parameters<typeof putIndexTag>[2]);
      });
    }
    if (entry.type === 'registry' && !attrs['ref'])
      throw usage('registry cache exporter requires ref', 'cacheExports');
    cacheExports.push({ Type: entry.type, Attrs: attrs });
  }

  const cacheImports: PreparedBuild['cacheImports'] = [];
  for (const entry of options.cacheImports ?? []) {
    const attrs = { ...entry.attrs };
    if (entry.type === 'local') {
      const dir = attrs['src'];
      if (!dir) throw usage('local cache importer requires src', 'cacheImports');
      if (!attrs['digest']) {
        const found = await getIndexTag(dir, attrs['tag'] ?? 'latest');
        if (!found) {
          options.onWarning?.(
            `local cache import at ${dir} not found due to err: no index.json entry tagged ${attrs['tag'] ?? 'latest'}`,
          );
          continue;
        }
        attrs['digest'] = found.digest;
      }
      stores[`local:${dir}`] = dir;
    }
    if (entry.type === 'registry' && !attrs['ref'])
      throw usage('registry cache importer requires ref', 'cacheImports');
    cacheImports.push({ Type: entry.type, Attrs: attrs });
  }
  if (cacheImports.length > 0) {
    frontendAttrs['cache-imports'] = goJson(
      cacheImports.map(
        (c) =>
          new GoStruct([
            { name: 'Type', json: 'Type', value: c.Type },
            { name: 'Attrs', json: 'Attrs', value: new GoMap(c.Attrs) },
          ]),
      ),
    );
  }
  for (const [name, dir] of Object.entries(options.ociLayouts ?? {})) {
    if (stores[`oci:${name}`]) throw usage(`oci store key "${name}" already exists`, 'ociLayouts');
    stores[`oci:${name}`] = dir;
  }
  if (Object.keys(stores).length > 0) providers.push(new ContentStoreProvider({ stores }));

  return {
    providers,
    exporters,
    cacheExports,
    cacheImports,
    frontend,
    frontendAttrs,
    definition,
    finish: async (response) => {
      for (const step of afterSolve) await step(response);
    },
  };
}
