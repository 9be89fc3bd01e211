/** Lines of the Dockerfile an instruction spans, 1-based and inclusive. */
export interface LineRange {
  readonly start: number;
  readonly end: number;
}

interface Common {
  /** The keyword as written (`RUN`, `run`). */
  readonly keyword: string;
  /** The instruction's source text (the logical line, trimmed): what BuildKit shows as its name. */
  readonly code: string;
  readonly location: LineRange;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

/** One name of an ARG instruction; `value` is absent for `ARG NAME` without a default. */
export interface ArgDefinition {
  readonly key: string;
  readonly value?: string;
  /** From a `# NAME description` comment right above the ARG (shown by `frontend.outline`). */
  readonly comment?: string;
}

/** A heredoc used as a COPY/ADD source. */
export interface SourceContent {
  /** The heredoc's name, which is also the file name. */
  readonly path: string;
  /** Its body (tabs already stripped for `<<-`). */
  readonly data: string;
  /** Variables in the body are expanded (the terminator was not quoted). */
  readonly expand: boolean;
}

/** A heredoc attached to RUN (inline script or input). */
export interface InlineFile {
  readonly name: string;
  readonly data: string;
  readonly chomp: boolean;
}

/** The command of RUN, CMD and ENTRYPOINT. */
export interface CommandLine {
  /** Exec form: the JSON array. Shell form: one string, to be run by the stage's SHELL. */
  readonly args: readonly string[];
  /** Shell form (not JSON): the image's shell is prepended when the command is run or stored. */
  readonly prependShell: boolean;
  readonly files: readonly InlineFile[];
}

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type CacheSharing = 'shared' | 'private' | 'locked';

/** A fully parsed and validated `RUN --mount=…`. */
export interface RunMount {
  readonly type: MountType;
  /** Stage name, stage index or image the mount is taken from (bind and cache). */
  readonly from?: string;
  readonly source?: string;
  readonly target?: string;
  readonly readOnly: boolean;
  /** tmpfs size in bytes. */
  readonly sizeLimit?: number;
  /** Cache id (cache), secret id (secret) or SSH agent id (ssh). */
  readonly id?: string;
  readonly sharing?: CacheSharing;
  /** secret/ssh: fail when the client does not provide it. */
  readonly required: boolean;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/**
 * A `--mount` flag as written. Only `from` is read at parse time (it decides which stages the RUN
 * needs and may not use variables); the rest is parsed, with variables expanded, when the
 * instruction is expanded, which is when BuildKit reports bad mount options.
 */
export interface RunMountSpec {
  readonly text: string;
  readonly from?: string;
  /** Set by expandInstruction. */
  readonly resolved?: RunMount;
}

export type NetworkMode = 'default' | 'none' | 'host';
export type SecurityMode = 'sandbox' | 'insecure';

/** HEALTHCHECK; durations in nanoseconds, 0 meaning "inherit the default". */
export interface HealthSpec {
  /** `["NONE"]`, `["CMD", …]` (exec form) or `["CMD-SHELL", "<command>"]`. */
  readonly test: readonly string[];
  readonly interval: number;
  readonly timeout: number;
  readonly startPeriod: number;
  readonly startInterval: number;
  readonly retries: number;
}

export interface EnvInstruction extends Common {
  readonly kind: 'env';
  readonly pairs: readonly KeyValue[];
}
export interface LabelInstruction extends Common {
  readonly kind: 'label';
  readonly pairs: readonly KeyValue[];
}
export interface MaintainerInstruction extends Common {
  readonly kind: 'maintainer';
  readonly maintainer: string;
}
interface SourcesAndDest {
  /** Paths (or URLs, git refs) to copy, quotes not yet removed until expansion. */
  readonly sources: readonly string[];
  /** Heredoc sources. */
  readonly contents: readonly SourceContent[];
  readonly dest: string;
  readonly chown?: string;
  readonly chmod?: string;
  readonly link: boolean;
  readonly excludes: readonly string[];
}
export interface AddInstruction extends Common, SourcesAndDest {
  readonly kind: 'add';
  readonly keepGitDir: boolean;
  readonly checksum?: string;
}
export interface CopyInstruction extends Common, SourcesAndDest {
  readonly kind: 'copy';
  /** `--from`: a stage name, a stage index or an image reference (never expanded). */
  readonly from?: string;
  readonly parents: boolean;
}
export interface OnbuildInstruction extends Common {
  readonly kind: 'onbuild';
  /** The trigger's text (without `ONBUILD`), heredoc bodies appended, as stored in the image. */
  readonly expression: string;
}
export interface WorkdirInstruction extends Common {
  readonly kind: 'workdir';
  readonly path: string;
}
export interface RunInstruction extends Common {
  readonly kind: 'run';
  readonly command: CommandLine;
  readonly mounts: readonly RunMountSpec[];
  readonly network: NetworkMode;
  readonly security: SecurityMode;
  /** Names of the flags that were given (sorted). */
  readonly flagsUsed: readonly string[];
}
export interface CmdInstruction extends Common {
  readonly kind: 'cmd';
  readonly command: CommandLine;
}
export interface EntrypointInstruction extends Common {
  readonly kind: 'entrypoint';
  readonly command: CommandLine;
}
export interface HealthcheckInstruction extends Common {
  readonly kind: 'healthcheck';
  readonly health: HealthSpec;
}
export interface ExposeInstruction extends Common {
  readonly kind: 'expose';
  /** As written (sorted, as BuildKit does); expanded with word splitting when dispatched. */
  readonly ports: readonly string[];
}
export interface UserInstruction extends Common {
  readonly kind: 'user';
  readonly user: string;
}
export interface VolumeInstruction extends Common {
  readonly kind: 'volume';
  readonly volumes: readonly string[];
}
export interface StopsignalInstruction extends Common {
  readonly kind: 'stopsignal';
  readonly signal: string;
}
export interface ArgInstruction extends Common {
  readonly kind: 'arg';
  readonly args: readonly ArgDefinition[];
}
export interface ShellInstruction extends Common {
  readonly kind: 'shell';
  readonly shell: readonly string[];
}

/** Every instruction that may appear inside a stage (FROM starts a stage instead). */
export type Instruction =
  | EnvInstruction
  | LabelInstruction
  | MaintainerInstruction
  | AddInstruction
  | CopyInstruction
  | OnbuildInstruction
  | WorkdirInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | HealthcheckInstruction
  | ExposeInstruction
  | UserInstruction
  | VolumeInstruction
  | StopsignalInstruction
  | ArgInstruction
  | ShellInstruction;

/** FROM, as parsed (before meta-ARG expansion of the base name and platform). */
export interface FromInstruction extends Common {
  readonly kind: 'from';
  readonly baseName: string;
  /** `AS name`, lower-cased. */
  readonly stageName?: string;
  readonly platform?: string;
  readonly comment?: string;
}

/** A build stage: FROM and the instructions up to the next FROM. */
export interface Stage {
  /** Position in the Dockerfile, 0-based (what `COPY --from=0` refers to). */
  readonly index: number;
  /** `AS name`, lower-cased. */
  readonly name?: string;
  /** The FROM argument as written (may contain meta ARGs: `FROM base:${VERSION}`). */
  readonly baseName: string;
  /** `FROM --platform=…` as written (may contain meta ARGs). */
  readonly platform?: string;
  /** From a `# name description` comment above FROM (shown by `frontend.targets`). */
  readonly comment?: string;
  readonly code: string;
  readonly location: LineRange;
  readonly commands: readonly Instruction[];
}

/** The typed form of a Dockerfile. */
export interface Dockerfile {
  readonly stages: readonly Stage[];
  /** ARG instructions before the first FROM (global scope, usable in FROM lines). */
  readonly metaArgs: readonly ArgInstruction[];
}
