/**
 * The Dockerfile frontend: BuildKit v0.11.6's `dockerfile.v0`, built into kilnd.
 *
 * Phase 1 — everything before LLB, pure and synchronous (plus the newer `${V#p}`-style
 * expansions, `check` directive, COPY --parents/--exclude, ADD --exclude, HEALTHCHECK
 * --start-interval and RUN --security):
 *   parseDockerfile(text)        → ParseResult (nodes with lines, directives, heredocs, warnings)
 *   parseStages(result)          → Dockerfile (typed instructions grouped into stages, meta ARGs)
 *   buildStageGraph(df, …)       → which stages a target needs, in dependency order
 *   ShellLexer                   → BuildKit-exact word expansion
 *   expandInstruction            → the words BuildKit expands, with RUN --mount parsed
 *   startStage / dispatchInstruction / applyInstruction
 *                                → image config, build state and history, step by step
 *   requiredImages / neededStages → what a build must resolve first (images, named contexts)
 *   planBuild(options)           → all of the above for one target platform
 *   marshalImageConfig(image)    → the config JSON byte-for-byte as BuildKit's frontend writes it
 *   outline / listTargets / describeSubrequests
 *                                → the `frontend.outline`, `frontend.targets`, `…describe` results
 *   stepPrefix / displayCommand  → progress names of steps as BuildKit shows them
 *
 * Phase 2 — LLB and the frontend:
 *   convertDockerfile(options)   → the target's LLB State (ops byte-identical to dockerfile2llb's
 *                                  for the same inputs) and image config, for one platform; pure
 *   resolveConversionInputs      → base/`--from` image configs and named contexts, fetched in
 *                                  parallel through the gateway
 *   loadDockerfile               → the Dockerfile and .dockerignore from the client's locals (or
 *                                  a git/http context)
 *   parseFrontendOptions         → the `--opt` keys, checked with BuildKit's messages
 *   dockerfileFrontend           → the whole `dockerfile.v0` Frontend over a GatewayClient
 *
 * Errors: DockerfileError (with the Dockerfile lines), DockerfileSourceError (the same, carrying
 * the Dockerfile for buildctl's error excerpt), WordExpansionError, TargetNotFoundError,
 * BuildOptionError (`invalid-argument`); DockerfileReadError (`not-found`);
 * FrontendUnsupportedError (`unimplemented`).
 */
export {
  BuildOptionError,
  DockerfileError,
  DockerfileReadError,
  DockerfileSourceError,
  type ErrorSource,
  FrontendUnsupportedError,
  TargetNotFoundError,
  WordExpansionError,
  atLines,
} from './errors.js';
export {
  type Env,
  type EscapeToken,
  type Expansion,
  type ShellLexerOptions,
  ShellLexer,
  envFromList,
} from './shell-lexer.js';
export { parseDockerfile } from './parser/parser.js';
export {
  type Directive,
  type Heredoc,
  type Node,
  type ParseResult,
  type ParseWarning,
  dumpNodes,
  nodeArgs,
} from './parser/node.js';
export {
  type HeredocMarker,
  chompHeredocContent,
  heredocMarkersOfLine,
  parseHeredocMarker,
} from './parser/heredoc.js';
export {
  type CheckDirective,
  type SyntaxDirective,
  detectSyntax,
  parseCheckDirective,
} from './parser/directives.js';
export type * from './instructions/types.js';
export { parseInstruction, instructionNames } from './instructions/parse-instruction.js';
export { findStage, parseStages } from './instructions/stages.js';
export { type StageGraph, type StageNode, buildStageGraph } from './instructions/stage-graph.js';
export { expandInstruction } from './instructions/expand.js';
export { resolveMount } from './instructions/mounts.js';
export {
  type ArgInfo,
  type ArgValue,
  type MetaArgs,
  type ProxyEnv,
  argsToEnv,
  formatPlatformArg,
  platformArgs,
  proxyEnvFromBuildArgs,
  resolveMetaArgs,
} from './build-args.js';
export {
  baseImageConfig,
  defaultPathEnv,
  defaultShell,
  emptyImageConfig,
  historyComment,
  marshalImageConfig,
  withShell,
} from './image-config.js';
export { type RunCommandArgs, runCommandArgs, summarizeHeredoc } from './run-command.js';
export {
  type OutlineCapture,
  type StageBase,
  type StageContext,
  type StageState,
  startStage,
  stateEnv,
} from './stage-state.js';
export { applyInstruction, dispatchInstruction } from './apply-instruction.js';
export { type BuildPlan, type PlanOptions, type PlannedStep, type StagePlan, planBuild } from './plan.js';
export { parsePlatformSpec } from './plan-prepare.js';
export { type RequiredImage, neededStages, requiredImages } from './required-images.js';
export {
  type SubrequestResult,
  describeSubrequests,
  listTargets,
  outline,
  subrequestIds,
} from './subrequests.js';
export { type SourcePosition, type SourceRange, sourceRanges } from './source-ranges.js';
export { displayCommand, platformLabel, showsStageNames, stepPrefix, stepTotal } from './progress-name.js';
export { type Conversion, convertDockerfile } from './convert/convert.js';
export {
  type ContextSource,
  type ConvertOptions,
  type ResolvedImage,
  imageContextKey,
  imageKey,
  stageContextKey,
} from './convert/types.js';
export { type GitRef, parseGitRef } from './convert/git-ref.js';
export { pinnedReference } from './convert/image-source.js';
export { dockerfileFrontend } from './frontend/dockerfile-frontend.js';
export { type FrontendOptions, checkFrontendCaps, parseFrontendOptions } from './frontend/options.js';
export { type LoadedDockerfile, loadDockerfile } from './frontend/load-dockerfile.js';
export { type NamedContextLookup, namedContextLookup, parseImageConfig } from './frontend/named-contexts.js';
export { type ConversionInputs, resolveConversionInputs } from './frontend/resolve-inputs.js';
