import type { ErrorKind } from '../../oci/index.js';

/** A builder file (`kilnctl --builder FILE`) cannot be read or does not describe a valid builder. */
export class BuilderFileError extends Error {
  readonly kind = 'invalid-argument' as const;
  readonly code = 'KILN_CLIENT_BUILDER_FILE' as const;
  readonly path: string;
  /** The key at fault (`node[1].address`), when one is. */
  readonly key: string | undefined;
  constructor(options: { path: string; message: string; key?: string; cause?: unknown }) {
    super(`builder file ${options.path}${options.key ? `: ${options.key}` : ''}: ${options.message}`, {
      cause: options.cause,
    });
    this.name = 'BuilderFileError';
    this.path = options.path;
    this.key = options.key;
  }
}

/** What one node said when the router asked it, as NoNodeAvailableError lists it. */
export interface NodeFailure {
  readonly name: string;
  readonly address: string;
  readonly state: 'draining' | 'unreachable';
  readonly reason: string;
}

/** No node of the builder is serving: every one is unreachable or draining. */
export class NoNodeAvailableError extends Error {
  readonly kind: ErrorKind = 'unavailable';
  readonly code = 'KILN_CLIENT_NO_NODE' as const;
  readonly nodes: readonly NodeFailure[];
  constructor(options: { nodes: readonly NodeFailure[] }) {
    super(
      `no builder node is available: ${options.nodes
        .map((n) => `${n.name} (${n.address}) is ${n.state}: ${n.reason}`)
        .join('; ')}`,
    );
    this.name = 'NoNodeAvailableError';
    this.nodes = options.nodes;
  }
}
