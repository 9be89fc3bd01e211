import type { ErrorKind } from '../oci/index.js';

export type { ErrorKind };

/**
 * A `Definition` the daemon refuses: undecodable bytes, a broken graph (unknown inputs, cycles,
 * indexes out of range), an unknown op kind or source scheme, an unsupported cap, or a definition
 * past the configured limits. `digest` and `opKind` name the op at fault when there is one.
 */
export class InvalidDefinitionError extends Error {
  readonly kind: ErrorKind = 'invalid-argument';
  readonly code = 'KILN_LLB_INVALID' as const;
  readonly digest: string | undefined;
  readonly opKind: string | undefined;
  readonly reason: string;
  constructor(options: { reason: string; digest?: string; opKind?: string; cause?: unknown }) {
    const where = options.digest
      ? `op ${options.digest}${options.opKind ? ` (${options.opKind})` : ''}: `
      : '';
    super(`invalid LLB definition: ${where}${options.reason}`, { cause: options.cause });
    this.name = 'InvalidDefinitionError';
    this.digest = options.digest;
    this.opKind = options.opKind;
    this.reason = options.reason;
  }
}

/**
 * A graph the builder cannot marshal: an exec without arguments, a mount output used as an input
 * although it has none (tmpfs, cache, no-output mounts), a merge of fewer than two states, and
 * similar misuse. Raised by `marshal()`, where lazy state is finally resolved, as in BuildKit.
 */
export class LlbBuildError extends Error {
  readonly kind: ErrorKind = 'invalid-argument';
  readonly code = 'KILN_LLB_BUILD' as const;
  readonly vertex: string | undefined;
  constructor(options: { message: string; vertex?: string; cause?: unknown }) {
    super(options.vertex ? `${options.vertex}: ${options.message}` : options.message, {
      cause: options.cause,
    });
    this.name = 'LlbBuildError';
    this.vertex = options.vertex;
  }
}
