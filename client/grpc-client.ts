import { create, type DescService, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import {
  credentials as grpcCredentials,
  makeGenericClientConstructor,
  Metadata,
  type CallOptions,
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import { grpcServiceDefinition } from '../proto/index.js';

export interface ConnectOptions {
  /** PEM contents for TLS on tcp:// addresses. */
  readonly tls?: {
    readonly ca?: Buffer;
    readonly cert?: Buffer;
    readonly key?: Buffer;
    readonly serverName?: string;
  };
}

/** `unix:///path` or `tcp://host:port` as a grpc-js target. */
export function grpcTarget(address: string): string {
  if (address.startsWith('unix://')) return `unix://${address.slice('unix://'.length)}`;
  if (address.startsWith('tcp://')) return address.slice('tcp://'.length);
  throw new Error(`unsupported address ${JSON.stringify(address)}: expected unix:///path or tcp://host:port`);
}

type Untyped = Client & Record<string, (...args: unknown[]) => unknown>;

type MethodsOf<S> = S extends GenService<infer M> ? M : never;
type Input<S, K extends keyof MethodsOf<S>> = MessageInitShape<MethodsOf<S>[K]['input']>;
type Output<S, K extends keyof MethodsOf<S>> = MessageShape<MethodsOf<S>[K]['output']>;

/**
 * A grpc-js client for one service, typed by its protobuf-es descriptor: unary calls return
 * promises, streams return async iterables, bidi calls return the raw duplex.
 */
export class ServiceClient<S extends GenService<GenServiceMethods>> {
  readonly #client: Untyped;

  constructor(
    readonly service: S,
    address: string,
    options: ConnectOptions = {},
    channel?: Client,
  ) {
    const Ctor = makeGenericClientConstructor(
      grpcServiceDefinition(service as DescService & S),
      service.typeName,
    );
    const creds = options.tls
      ? grpcCredentials.createSsl(options.tls.ca ?? null, options.tls.key ?? null, options.tls.cert ?? null)
      : grpcCredentials.createInsecure();
    const channelOptions = {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
      ...(options.tls?.serverName ? { 'grpc.ssl_target_name_override': options.tls.serverName } : {}),
      ...(channel ? { channelOverride: channel.getChannel() } : {}),
    };
    this.#client = new Ctor(grpcTarget(address), creds, channelOptions) as Untyped;
  }

  get raw(): Client {
    return this.#client;
  }

  #schema<K extends keyof MethodsOf<S> & string>(method: K) {
    return (this.service as DescService & S).method[method]!.input;
  }

  unary<K extends keyof MethodsOf<S> & string>(
    method: K,
    request: Input<S, K>,
    options: { metadata?: Metadata; signal?: AbortSignal; deadline?: Date } = {},
  ): Promise<Output<S, K>> {
    return new Promise((resolve, reject) => {
      const callOptions: CallOptions = options.deadline ? { deadline: options.deadline } : {};
      const call = this.#client[method]!(
        create(this.#schema(method), request as never),
        options.metadata ?? new Metadata(),
        callOptions,
        (err: ServiceError | null, response: Output<S, K>) => (err ? reject(err) : resolve(response)),
      ) as ClientUnaryCall;
      cancelOnAbort(call, options.signal);
    });
  }

  serverStream<K extends keyof MethodsOf<S> & string>(
    method: K,
    request: Input<S, K>,
    options: { metadata?: Metadata; signal?: AbortSignal } = {},
  ): ClientReadableStream<Output<S, K>> & AsyncIterable<Output<S, K>> {
    const call = this.#client[method]!(
      create(this.#schema(method), request as never),
      options.metadata ?? new Metadata(),
    ) as ClientReadableStream<Output<S, K>> & AsyncIterable<Output<S, K>>;
    cancelOnAbort(call, options.signal);
    return call;
  }

  bidi<K extends keyof MethodsOf<S> & string>(
    method: K,
    metadata: Metadata,
  ): ClientDuplexStream<MessageShape<MethodsOf<S>[K]['input']>, Output<S, K>> {
    return this.#client[method]!(metadata) as ClientDuplexStream<
      MessageShape<MethodsOf<S>[K]['input']>,
      Output<S, K>
    >;
  }

  close(): void {
    this.#client.close();
  }
}

/**
 * Cancels `call` when `signal` aborts, at once when it already has: a Ctrl-C that lands while the
 * client is still connecting must cancel the build it is about to start, not wait for its end.
 */
function cancelOnAbort(
  call: ClientUnaryCall | ClientReadableStream<unknown>,
  signal: AbortSignal | undefined,
): void {
  if (!signal) return;
  if (signal.aborted) {
    call.cancel();
    return;
  }
  const cancel = (): void => call.cancel();
  signal.addEventListener('abort', cancel, { once: true });
  call.once('status', () => signal.removeEventListener('abort', cancel));
}
