import type { MessageInitShape } from '@bufbuild/protobuf';
import { Duplex, type Readable, type Writable } from 'node:stream';
import type { Platform } from '../../oci/index.js';
import type { ReturnRequestSchema } from '../../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import type { Definition } from '../../proto/gen/pb/ops_pb.js';
import type { GatewayResult } from '../../solver/index.js';
import { LlbBridgeClient } from './bridge-client.js';
import { FrontendEnvironmentError } from './errors.js';
import { GrpcFrontendClient, type FrontendClient } from './frontend-client.js';
import { readFrontendEnvironment } from './frontend-env.js';
import { GrpcConnection } from './grpc-connection.js';
import { errorStatus } from './status.js';

/** A frontend as the SDK runs it (any kiln Frontend fits: FrontendClient is a GatewayClient). */
export type FrontendFunction = (client: FrontendClient, signal: AbortSignal) => Promise<GatewayResult>;

export interface RunFrontendOptions {
  /** The daemon's end of the connection; default the process's stdin and stdout. */
  readonly input?: Readable;
  readonly output?: Writable;
  /** Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Aborting cancels the frontend (and its calls); default: SIGTERM/SIGINT. */
  readonly signal?: AbortSignal;
}

function resultRequest(result: GatewayResult) {
  const ref = (id: string) => ({ id });
  const metadata = Object.fromEntries([...result.metadata].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (result.refs) {
    const refs = Object.fromEntries([...result.refs].map(([k, r]) => [k, ref(r.id)]));
    return { result: { case: 'refs' as const, value: { refs } }, metadata };
  }
  if (result.ref) return { result: { case: 'ref' as const, value: ref(result.ref.id) }, metadata };
  return { metadata };
}

function signalFromProcess(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const stop = (name: string) => () => controller.abort(new Error(`frontend stopped by ${name}`));
  const term = stop('SIGTERM');
  const int = stop('SIGINT');
  process.once('SIGTERM', term);
  process.once('SIGINT', int);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGTERM', term);
      process.off('SIGINT', int);
    },
  };
}

/** Pings the daemon and fetches the build's inputs: the client a frontend is given. */
async function connect(
  bridge: LlbBridgeClient,
  env: Readonly<Record<string, string | undefined>>,
  signal: AbortSignal,
): Promise<GrpcFrontendClient> {
  const environment = readFrontendEnvironment(env);
  const pong = await bridge.call('ping', {}, signal);
  const caps = new Set(pong.FrontendAPICaps.filter((c) => c.Enabled).map((c) => c.ID));
  if (!caps.has('return')) {
    throw new FrontendEnvironmentError({
      what: 'return',
      message: 'the daemon does not support LLBBridge.Return (cap "return"); this SDK needs it',
    });
  }
  const inputs = caps.has('frontend.inputs')
    ? new Map(Object.entries((await bridge.call('inputs', {}, signal)).Definitions))
    : new Map<string, Definition>();
  const pingPlatforms: Platform[] = (pong.Workers[0]?.platforms ?? []).map((p) => ({
    os: p.OS,
    architecture: p.Architecture,
    ...(p.Variant ? { variant: p.Variant } : {}),
  }));
  return new GrpcFrontendClient({
    bridge,
    environment,
    caps,
    llbCaps: new Set(pong.LLBCaps.filter((c) => c.Enabled).map((c) => c.ID)),
    pingPlatforms,
    inputs,
  });
}

/**
 * Runs `frontend` as a gateway frontend: connects to the daemon's LLBBridge over stdin/stdout,
 * pings it, fetches the build's inputs, calls the frontend and hands its result (or its error,
 * with typed details) back through `Return`. Resolves to the exit code the process should end
 * with: 0 when the build succeeded, 1 when it failed (the daemon reports the error it was given).
 * Over the process's stdio the connection stays open, so end the process with that code right
 * away: `process.exit(await runFrontend(frontend))`.
 *
 * When it runs over the process's own stdout, `console` is redirected to stderr first: a stray
 * `console.log` would corrupt the connection. Errors it cannot report to the daemon (the
 * connection broke) are written to stderr.
 */
export async function runFrontend(
  frontend: FrontendFunction,
  options: RunFrontendOptions = {},
): Promise<number> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  if (output === process.stdout) globalThis.console = new console.Console(process.stderr, process.stderr);
  const own = options.signal ? undefined : signalFromProcess();
  const signal = options.signal ?? own!.signal;
  const connection = GrpcConnection.over(Duplex.from({ readable: input, writable: output }));
  const bridge = new LlbBridgeClient(connection);
  let returned = false;
  const giveBack = async (request: MessageInitShape<typeof ReturnRequestSchema>): Promise<void> => {
    returned = true;
    await bridge.call('return', request);
  };
  try {
    const client = await connect(bridge, options.env ?? process.env, signal);
    let exitCode = 0;
    let request: MessageInitShape<typeof ReturnRequestSchema>;
    try {
      request = { result: resultRequest(await frontend(client, signal)) };
    } catch (err) {
      request = { error: errorStatus(err) };
      exitCode = 1;
      process.stderr.write(`build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    await client.flush();
    await giveBack(request);
    return exitCode;
  } catch (err) {
    // Failing before the frontend ran (no Return yet): tell the daemon why, if it still listens.
    if (!returned) await giveBack({ error: errorStatus(err) }).catch(() => undefined);
    process.stderr.write(`frontend failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    own?.dispose();
    // Over the process's own stdio the connection ends with the process, as a Go frontend's does:
    // BuildKit treats a connection closed while the frontend still runs as a crash.
    if (output !== process.stdout) {
      await Promise.race([connection.close(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      connection.destroy();
    }
  }
}
