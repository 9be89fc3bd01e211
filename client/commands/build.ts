import { appendFile, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { PolicySchema, type Policy } from '../../proto/gen/moby/buildkit/v1/sourcepolicy/policy_pb.js';
import type { BuildOutput } from '../build/build-options.js';
import type { Command, CommandContext } from '../cli/command.js';
import { ClientUsageError } from '../errors.js';
import { parseExportCacheFlags, parseImportCacheFlags } from '../options/cache.js';
import { attrMap } from '../options/csv.js';
import { writeFileAtomic, writeMetadataFile } from '../options/metadata-file.js';
import { parseOutputFlag } from '../options/output.js';
import { parseAllowFlag, parseSecretFlag, parseSshFlag } from '../options/secret.js';
import { ProgressDisplay, rawJsonLine } from '../progress/index.js';
import type { SecretSource } from '../session/index.js';

const maxSecretSize = 500 * 1024;

async function sshAgents(ctx: CommandContext): Promise<Record<string, string>> {
  const agents: Record<string, string> = {};
  for (const value of ctx.flags.strings('ssh')) {
    const flag = parseSshFlag(value);
    const paths = flag.paths.length > 0 ? flag.paths : [ctx.env['SSH_AUTH_SOCK'] ?? ''];
    if (paths[0] === '')
      throw new ClientUsageError({
        option: '--ssh',
        message: 'invalid empty ssh agent socket: SSH_AUTH_SOCK is not set',
      });
    if (agents[flag.id])
      throw new ClientUsageError({ option: '--ssh', message: `invalid duplicate ID ${flag.id}` });
    const st = await stat(paths[0]!).catch((err: unknown) => {
      throw new ClientUsageError({
        option: '--ssh',
        message: `failed to stat ${paths[0]}: ${(err as Error).message}`,
      });
    });
    if (paths.length > 1 || !st.isSocket()) {
      throw new ClientUsageError({
        option: '--ssh',
        message: `${paths.join(',')}: kilnctl forwards ssh agent sockets only; load keys into an agent (ssh-add)`,
      });
    }
    agents[flag.id] = paths[0]!;
  }
  return agents;
}

async function secrets(ctx: CommandContext): Promise<Record<string, SecretSource>> {
  const out: Record<string, SecretSource> = {};
  for (const value of ctx.flags.strings('secret')) {
    const flag = parseSecretFlag(value, ctx.env);
    if ('file' in flag.source) {
      const file = flag.source.file;
      const st = await stat(file).catch((err: unknown) => {
        throw new ClientUsageError({
          option: '--secret',
          message: `failed to stat ${file}: ${(err as Error).message}`,
        });
      });
      if (st.size > maxSecretSize) {
        throw new ClientUsageError({
          option: '--secret',
          message: `secret ${flag.id} too big. max size 500KB`,
        });
      }
      out[flag.id] = { file };
    } else out[flag.id] = { env: flag.source.env };
  }
  return out;
}

async function readStdin(ctx: CommandContext): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

async function sourcePolicy(path: string): Promise<Policy> {
  const text = await readFile(path, 'utf8');
  try {
    return fromJson(PolicySchema, JSON.parse(text) as JsonValue, { ignoreUnknownFields: true });
  } catch (err) {
    throw new ClientUsageError({
      option: '--source-policy-file',
      message: `failed to unmarshal source-policy-file "${path}": ${(err as Error).message}`,
      cause: err,
    });
  }
}

function wrapInvalid<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ClientUsageError({
      option: `--${what}`,
      message: `invalid ${what}: ${(err as Error).message}`,
      cause: err,
    });
  }
}

/** `kilnctl build`: buildctl's build, through the gateway detour, with buildctl's flags. */
export const buildCommand: Command = {
  name: 'build',
  aliases: ['b'],
  usage: 'build',
  description:
    'To build and push an image using Dockerfile:\n  $ kilnctl build --frontend dockerfile.v0 --opt target=foo --opt build-arg:foo=bar --local context=. --local dockerfile=. --output type=image,name=docker.io/username/image,push=true',
  flags: [
    {
      name: 'output',
      aliases: ['o'],
      kind: 'strings',
      usage:
        'Define exports for build result, e.g. --output type=image,name=docker.io/username/image,push=true',
    },
    {
      name: 'progress',
      kind: 'string',
      usage: 'Set type of progress (auto, plain, tty, rawjson, quiet). Use plain to show container output',
      default: 'auto',
    },
    { name: 'trace', kind: 'string', usage: 'Path to trace file (JSON progress). Defaults to no tracing.' },
    { name: 'local', kind: 'strings', usage: 'Allow build access to the local directory' },
    { name: 'oci-layout', kind: 'strings', usage: 'Allow build access to the local OCI layout' },
    { name: 'frontend', kind: 'string', usage: 'Define frontend used for build' },
    {
      name: 'opt',
      kind: 'strings',
      usage: 'Define custom options for frontend, e.g. --opt target=foo --opt build-arg:foo=bar',
    },
    { name: 'no-cache', kind: 'bool', usage: 'Disable cache for all the vertices' },
    {
      name: 'export-cache',
      kind: 'strings',
      usage:
        'Export build cache, e.g. --export-cache type=registry,ref=example.com/foo/bar, or --export-cache type=local,dest=path/to/dir',
    },
    {
      name: 'import-cache',
      kind: 'strings',
      usage:
        'Import build cache, e.g. --import-cache type=registry,ref=example.com/foo/bar, or --import-cache type=local,src=path/to/dir',
    },
    {
      name: 'secret',
      kind: 'strings',
      usage: 'Secret value exposed to the build. Format id=secretname,src=filepath',
    },
    {
      name: 'allow',
      kind: 'strings',
      usage: 'Allow extra privileged entitlement, e.g. network.host, security.insecure',
    },
    {
      name: 'ssh',
      kind: 'strings',
      usage: 'Allow forwarding SSH agent to the builder. Format default|<id>[=<socket>]',
    },
    {
      name: 'metadata-file',
      kind: 'string',
      usage: 'Output build metadata (e.g., image digest) to a file as JSON',
    },
    { name: 'source-policy-file', kind: 'string', usage: 'Read source policy file from a JSON file' },
    { name: 'ref-file', kind: 'string', usage: 'Write build ref to a file' },
  ],
  async run(ctx) {
    const f = ctx.flags;
    const client = await ctx.client();
    const ssh = await sshAgents(ctx);
    const secretSources = await secrets(ctx);
    const allow = f.strings('allow').map(parseAllowFlag);
    const stdoutIsTTY = !!ctx.stdout.isTTY;
    let stdoutUsed = false;
    const outputs: BuildOutput[] = f.strings('output').map((value) => {
      const o = parseOutputFlag(value, { stdoutIsTTY });
      if (o.dest === undefined && (o.type === 'tar' || o.type === 'oci' || o.type === 'docker')) {
        stdoutUsed = true;
        return { type: o.type, attrs: o.attrs, dest: ctx.stdout };
      }
      return { type: o.type, attrs: o.attrs, ...(o.dest !== undefined ? { dest: o.dest } : {}) };
    });
    const cacheExports = parseExportCacheFlags(f.strings('export-cache'), { env: ctx.env, warn: ctx.warn });
    const cacheImports = parseImportCacheFlags(f.strings('import-cache'), { env: ctx.env, warn: ctx.warn });
    const policyFile = f.string('source-policy-file');
    const policy = policyFile ? await sourcePolicy(policyFile) : undefined;
    const frontendOpts = wrapInvalid('opt', () => attrMap(f.strings('opt'), '--opt'));
    const subrequest = frontendOpts['requestid'] !== undefined;
    if (subrequest && frontendOpts['frontend.caps'] === undefined) {
      frontendOpts['frontend.caps'] = 'moby.buildkit.frontend.subrequests';
    }
    const locals = wrapInvalid('local', () => attrMap(f.strings('local'), '--local'));
    const ociLayouts = wrapInvalid('oci-layout', () => attrMap(f.strings('oci-layout'), '--oci-layout'));

    const frontend = f.string('frontend');
    let definition: Uint8Array | undefined;
    if (frontend === '') {
      if (ctx.stdin.isTTY)
        throw new ClientUsageError({ message: 'please specify --frontend or pipe LLB definition to stdin' });
      definition = await readStdin(ctx);
      if (definition.length === 0) {
        throw new ClientUsageError({
          message: 'empty definition sent to build. Specify --frontend instead?',
        });
      }
    }

    let mode = f.string('progress');
    if (mode === 'auto' && ctx.env['BUILDKIT_PROGRESS']) mode = ctx.env['BUILDKIT_PROGRESS'];
    const display = new ProgressDisplay({
      mode,
      output: ctx.stderr,
      noColor: !!ctx.env['NO_COLOR'],
      truncateNames: ctx.env['PROGRESS_NO_TRUNC'] === '0',
    });
    const dockerConfigDir = ctx.env['DOCKER_CONFIG'] || join(ctx.env['HOME'] ?? '/root', '.docker');
    const run = client.build({
      ...(frontend ? { frontend } : {}),
      frontendOpts,
      ...(definition ? { definition } : {}),
      locals,
      ociLayouts,
      outputs,
      cacheExports,
      cacheImports,
      secrets: secretSources,
      ssh,
      allow,
      noCache: f.bool('no-cache'),
      auth: { configFile: join(dockerConfigDir, 'config.json') },
      env: ctx.env,
      ...(policy ? { sourcePolicy: policy } : {}),
      sessionName: basename(ctx.cwd),
      signal: ctx.signal,
      onWarning: ctx.warn,
    });
    const traceFile = f.string('trace');
    const shown = (async () => {
      for await (const status of run.progress) {
        display.update(status);
        if (traceFile) await appendFile(traceFile, rawJsonLine(status), { mode: 0o600 });
      }
    })();
    const refFile = f.string('ref-file');
    try {
      const result = await run;
      await shown;
      display.finish();
      if (ctx.debug) {
        for (const [k, v] of Object.entries(result.response))
          ctx.stderr.write(`DEBU[0000] exporter response: ${k}=${v}\n`);
      }
      const metadataFile = f.string('metadata-file');
      if (metadataFile) await writeMetadataFile(metadataFile, result.response);
      const txt = result.metadata['result.txt'];
      if (!subrequest) {
        // Only sub-requests (`--opt requestid=…`) print frontend results.
      } else if (txt) ctx.stdout.write(Buffer.from(txt).toString('utf8'));
      else {
        for (const [k, v] of Object.entries(result.metadata)) {
          if (k.startsWith('result.')) ctx.stdout.write(`${k}\n${Buffer.from(v).toString('utf8')}\n`);
        }
      }
      const digest = result.response['containerimage.digest'];
      if (display.mode === 'quiet' && digest && !stdoutUsed) ctx.stdout.write(digest + '\n');
    } finally {
      await shown.catch(() => undefined);
      display.finish();
      if (refFile) await writeFileAtomic(refFile, run.ref).catch(() => undefined);
    }
  },
};
