import { posix } from 'node:path';
import type { GatewayClient, GatewayRef } from '../../../solver/index.js';
import {
  type State,
  copy,
  git,
  http,
  local,
  marshal,
  parseDockerignore,
  scratch,
} from '../../../llb/index.js';
import { gitCheckout, parseGitRef } from '../convert/git-ref.js';
import { DockerfileReadError } from '../errors.js';
import type { FrontendOptions } from './options.js';

/** The Dockerfile and what comes with it, as the frontend loaded them. */
export interface LoadedDockerfile {
  /** The name the Dockerfile is shown under (`filename`, or `context` for a plain-file URL context). */
  readonly filename: string;
  readonly data: Uint8Array;
  /** .dockerignore patterns for the build context (the Dockerfile's own `<name>.dockerignore` first). */
  readonly excludes: readonly string[];
  /** A git or http build context replacing the local one. */
  readonly buildContext?: State;
}

/** gzip, bzip2, xz magic, or a tar header: what BuildKit unpacks when a URL context is an archive. */
function isArchive(header: Uint8Array): boolean {
  const magics = [
    [0x42, 0x5a, 0x68],
    [0x1f, 0x8b, 0x08],
    [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
  ];
  if (magics.some((m) => header.length >= m.length && m.every((b, i) => header[i] === b))) return true;
  return header.length >= 262 && Buffer.from(header.subarray(257, 262)).toString('latin1') === 'ustar';
}

async function readOptional(
  client: GatewayClient,
  ref: GatewayRef,
  path: string,
): Promise<Uint8Array | undefined> {
  try {
    return await client.readFile(ref, path);
  } catch {
    return undefined;
  }
}

/**
 * Fetches the Dockerfile the way BuildKit's frontend does: solves the `dockerfile` local (only the
 * Dockerfile, its `.dockerignore` and the lowercase `dockerfile` fallback, no metadata diffing),
 * reads the file, and in parallel the build context's `.dockerignore`. A `context` option naming a
 * git repository or URL replaces the local context (and provides the Dockerfile unless
 * `dockerfilekey` is set). Throws DockerfileReadError when the Dockerfile cannot be read.
 */
export async function loadDockerfile(opts: {
  client: GatewayClient;
  options: FrontendOptions;
  caps: Iterable<string>;
  signal: AbortSignal;
}): Promise<LoadedDockerfile> {
  const { client, options, caps, signal } = opts;
  let filename = options.filename;
  const names = [filename, `${filename}.dockerignore`];
  if (posix.basename(filename) === 'Dockerfile')
    names.push(posix.join(posix.dirname(filename), 'dockerfile'));
  let src: State = local(options.dockerfileLocal, {
    followPaths: names,
    sessionId: client.sessionId,
    sharedKeyHint: options.dockerfileLocal,
    customName: `[internal] load build definition from ${filename}`,
    differ: 'none',
  });
  let buildContext: State | undefined;
  let localContext = true;
  const remote = options.remoteContext;
  const gitRef = remote !== undefined ? parseGitRef(remote) : undefined;
  if (remote !== undefined && gitRef) {
    buildContext = git(gitRef.remote, gitCheckout(gitRef), {
      customName: `[internal] load git source ${remote}`,
      ...(options.keepGitDir ? { keepGitDir: true } : {}),
    });
    if (!options.forceLocalDockerfile) src = buildContext;
  } else if (remote !== undefined && /^https?:\/\//.test(remote)) {
    const download = http(remote, {
      filename: 'context',
      customName: '[internal] load remote build context',
    });
    const res = await client.solve({ definition: marshal(download, { caps }) }, signal);
    const header = res.ref
      ? await client.readFile(res.ref, 'context', { offset: 0, length: 1024 })
      : new Uint8Array();
    if (isArchive(header)) {
      buildContext = scratch().file(copy(download, '/context', '/', { attemptUnpack: true }));
    } else {
      filename = 'context';
      buildContext = download;
      localContext = false;
    }
    if (!options.forceLocalDockerfile) src = buildContext;
  }
  if (buildContext && options.contextSubDir !== undefined) {
    buildContext = scratch().file(
      copy(buildContext, options.contextSubDir, '/', { copyDirContentsOnly: true }),
    );
  }

  const readDockerfile = async (): Promise<{ data: Uint8Array; ignore?: Uint8Array }> => {
    let ref: GatewayRef | undefined;
    try {
      ref = (await client.solve({ definition: marshal(src, { caps }) }, signal)).ref;
    } catch (err) {
      throw new DockerfileReadError({
        path: filename,
        message: `failed to resolve dockerfile: ${(err as Error).message}`,
        cause: err,
      });
    }
    if (!ref)
      throw new DockerfileReadError({
        path: filename,
        message: `failed to read dockerfile: ${filename}: no result`,
      });
    let data = await readOptional(client, ref, filename);
    if (data === undefined && posix.basename(filename) === 'Dockerfile') {
      data = await readOptional(client, ref, posix.join(posix.dirname(filename), 'dockerfile'));
    }
    if (data === undefined) {
      throw new DockerfileReadError({
        path: filename,
        message: `failed to read dockerfile: open ${filename}: no such file or directory`,
      });
    }
    const ignore = await readOptional(client, ref, `${filename}.dockerignore`);
    return { data, ...(ignore ? { ignore } : {}) };
  };
  const readContextIgnore = async (): Promise<Uint8Array | undefined> => {
    if (!localContext) return undefined;
    const state =
      buildContext ??
      local(options.contextLocal, {
        sessionId: client.sessionId,
        followPaths: ['.dockerignore'],
        sharedKeyHint: `${options.contextLocal}-.dockerignore`,
        customName: '[internal] load .dockerignore',
        differ: 'none',
      });
    const res = await client.solve({ definition: marshal(state, { caps }) }, signal);
    return res.ref ? readOptional(client, res.ref, '.dockerignore') : undefined;
  };
  const [dockerfile, contextIgnore] = await Promise.all([readDockerfile(), readContextIgnore()]);
  const ignore = dockerfile.ignore ?? contextIgnore;
  return {
    filename,
    data: dockerfile.data,
    excludes: ignore ? parseDockerignore(Buffer.from(ignore).toString('utf8')) : [],
    ...(buildContext ? { buildContext } : {}),
  };
}
