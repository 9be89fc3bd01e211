import { Readable, type Writable } from 'node:stream';
import type { Platform } from '../../oci/index.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { InitMessageSchema } from '../../proto/gen/moby/buildkit/v1/frontend/gateway_pb.js';
import { MountType, NetMode, SecurityMode } from '../../proto/gen/pb/ops_pb.js';
import type { GatewayRef } from '../../solver/index.js';
import type { ExecStream, LlbBridgeClient } from './bridge-client.js';
import { ContainerProcessError } from './errors.js';

/** One mount of a gateway container. */
export interface ContainerMount {
  /** Absolute path in the container; exactly one mount must be `/`. */
  readonly dest: string;
  /** `bind` (default) mounts `ref` (or an empty directory), `tmpfs` a fresh tmpfs, `cache` a cache mount. */
  readonly type?: 'bind' | 'tmpfs' | 'cache';
  /** The result to mount (bind mounts). */
  readonly ref?: GatewayRef;
  readonly readonly?: boolean;
  /** Mount only this path of the result. */
  readonly selector?: string;
  /** The cache mount's id (default: its destination). */
  readonly cacheId?: string;
}

export interface ContainerOptions {
  /** Unique within the frontend run; generated when absent. */
  readonly id?: string;
  readonly mounts: readonly ContainerMount[];
  readonly network?: 'sandbox' | 'host' | 'none';
  readonly platform?: Platform;
  readonly extraHosts?: ReadonlyArray<{ readonly host: string; readonly ip: string }>;
}

export interface ProcessOptions {
  readonly args: readonly string[];
  readonly env?: readonly string[];
  readonly cwd?: string;
  readonly user?: string;
  /** The process's stdin; absent means /dev/null. */
  readonly stdin?: Readable | Uint8Array | string;
  /** Receive the process's output; absent output is discarded. Not ended by `run`. */
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  readonly security?: 'sandbox' | 'insecure';
  /** Aborting kills the process. */
  readonly signal?: AbortSignal;
}

export interface ProcessExit {
  readonly exitCode: number;
  /** The daemon's explanation when the process did not exit 0 (or could not start). */
  readonly message?: string;
}

const mountTypes = { bind: MountType.BIND, tmpfs: MountType.TMPFS, cache: MountType.CACHE } as const;
const netModes = { sandbox: NetMode.UNSET, host: NetMode.HOST, none: NetMode.NONE } as const;

function write(to: Writable | undefined, data: Uint8Array): Promise<void> {
  if (!to || to.write(data)) return Promise.resolve();
  return new Promise((resolve) => to.once('drain', resolve));
}

/**
 * A container made of result mounts (LLBBridge NewContainer), in which processes run one ExecProcess
 * stream each, with stdin/stdout/stderr streamed. Lifecycle: `create` → `run`… → `release` (the
 * daemon also releases containers when the frontend ends). Processes run one at a time or
 * concurrently; a writable mount is shared by every process of the container.
 */
export class GatewayContainer {
  readonly id: string;
  readonly #bridge: LlbBridgeClient;
  #processes = 0;
  #released = false;

  private constructor(bridge: LlbBridgeClient, id: string) {
    this.#bridge = bridge;
    this.id = id;
  }

  static async create(
    bridge: LlbBridgeClient,
    id: string,
    options: ContainerOptions,
    signal?: AbortSignal,
  ): Promise<GatewayContainer> {
    const p = options.platform;
    await bridge.call(
      'newContainer',
      {
        ContainerID: id,
        Mounts: options.mounts.map((m) => ({
          dest: m.dest,
          mountType: mountTypes[m.type ?? 'bind'],
          readonly: m.readonly ?? false,
          selector: m.selector ?? '',
          resultID: m.ref?.id ?? '',
          input: -1n,
          output: -1n,
          ...(m.type === 'cache' ? { cacheOpt: { ID: m.cacheId ?? m.dest } } : {}),
        })),
        Network: netModes[options.network ?? 'sandbox'],
        ...(p ? { platform: { OS: p.os, Architecture: p.architecture, Variant: p.variant ?? '' } } : {}),
        extraHosts: (options.extraHosts ?? []).map((h) => ({ Host: h.host, IP: h.ip })),
      },
      signal,
    );
    return new GatewayContainer(bridge, id);
  }

  /** Runs one process to its end; resolves with its exit code (a failing process does not throw). */
  async run(process: ProcessOptions): Promise<ProcessExit> {
    if (this.#released) {
      throw new ContainerProcessError({
        containerId: this.id,
        message: `container ${this.id} was released`,
        kind: 'failed-precondition',
      });
    }
    const pid = `${this.id}.${++this.#processes}`;
    const stream = this.#bridge.exec(process.signal);
    const init: MessageInitShape<typeof InitMessageSchema> = {
      ContainerID: this.id,
      Meta: {
        args: [...process.args],
        env: [...(process.env ?? [])],
        cwd: process.cwd ?? '/',
        user: process.user ?? '',
      },
      Fds: process.stdin === undefined ? [1, 2] : [0, 1, 2],
      Tty: false,
      Security: process.security === 'insecure' ? SecurityMode.INSECURE : SecurityMode.SANDBOX,
    };
    let exit: ProcessExit | undefined;
    try {
      await stream.send({ ProcessID: pid, Input: { case: 'Init', value: init } });
      for await (const message of stream) {
        const input = message.Input;
        if (input.case === 'Started' && process.stdin !== undefined) {
          void this.#pumpStdin(stream, pid, process.stdin);
        } else if (input.case === 'File') {
          await write(input.value.Fd === 2 ? process.stderr : process.stdout, input.value.Data);
        } else if (input.case === 'Exit') {
          exit = {
            exitCode: input.value.Code,
            ...(input.value.Error?.message ? { message: input.value.Error.message } : {}),
          };
        } else if (input.case === 'Done') {
          stream.end();
        }
      }
    } catch (err) {
      throw new ContainerProcessError({
        containerId: this.id,
        message: `process ${JSON.stringify(process.args.join(' '))} in container ${this.id} failed: ${(err as Error).message}`,
        kind: (err as { kind?: ContainerProcessError['kind'] }).kind ?? 'unknown',
        cause: err,
      });
    }
    if (!exit) {
      throw new ContainerProcessError({
        containerId: this.id,
        message: `process ${JSON.stringify(process.args.join(' '))} in container ${this.id} ended without an exit status`,
        kind: 'unavailable',
      });
    }
    return exit;
  }

  async #pumpStdin(stream: ExecStream, pid: string, stdin: Readable | Uint8Array | string): Promise<void> {
    const source = typeof stdin === 'string' || stdin instanceof Uint8Array ? Readable.from([stdin]) : stdin;
    try {
      for await (const chunk of source) {
        const data = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
        await stream.send({ ProcessID: pid, Input: { case: 'File', value: { Fd: 0, Data: data } } });
      }
      await stream.send({ ProcessID: pid, Input: { case: 'File', value: { Fd: 0, EOF: true } } });
    } catch {
      // The process ended before reading all of its input; its exit status says what happened.
    }
  }

  /**
   * Releases the container and its mounts. Idempotent. As in BuildKit, it then fails with the first
   * failure of a process that ran in the container (GatewayCallError `exit code: N`); the container
   * is released all the same.
   */
  async release(signal?: AbortSignal): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.#bridge.call('releaseContainer', { ContainerID: this.id }, signal);
  }
}
