import { type Platform, normalizePlatform } from '../../oci/index.js';
import { formatPlatformArg } from './build-args.js';
import type { StageNode } from './instructions/stage-graph.js';
import type { Dockerfile } from './instructions/types.js';
import type { Env, ShellLexer } from './shell-lexer.js';

/**
 * How many steps BuildKit numbers in a stage's progress names (`[2/5]`): loading the base image
 * (FROM an image, not scratch or a stage) and every RUN, COPY, ADD and WORKDIR. ONBUILD triggers
 * are numbered too but not counted, so `[6/5]` can happen, as in BuildKit.
 */
export function stepTotal(node: StageNode): number {
  const fromImage = node.baseStage === undefined && node.baseName !== 'scratch' ? 1 : 0;
  const steps = node.stage.commands.filter((c) => ['run', 'copy', 'add', 'workdir'].includes(c.kind)).length;
  return fromImage + steps;
}

/**
 * Whether progress names carry the stage name. BuildKit leaves it out only when its list of
 * stages has one entry, and that list also holds a placeholder for every `COPY --from` and every
 * `RUN --mount` (with or without `from`) that names no stage.
 */
export function showsStageNames(dockerfile: Dockerfile): boolean {
  if (dockerfile.stages.length !== 1) return true;
  const names = new Set(dockerfile.stages.map((s) => s.name).filter((n) => n !== undefined));
  const isStage = (from: string | undefined, allowIndex: boolean): boolean =>
    from !== undefined && (names.has(from.toLowerCase()) || (allowIndex && /^[+-]?\d+$/.test(from)));
  return dockerfile.stages[0]!.commands.some(
    (c) =>
      (c.kind === 'copy' && c.from !== undefined && !isStage(c.from, true)) ||
      (c.kind === 'run' && c.mounts.some((m) => !isStage(m.from, false))),
  );
}

/** The TARGET* platform a RUN's environment names, for cross-compilation labels. */
function platformFromEnv(env: Env): Platform | undefined {
  const spec = env.get('TARGETPLATFORM');
  if (spec !== undefined) {
    const [os = '', architecture = '', variant] = spec.split('/');
    if (os && architecture) return { os, architecture, ...(variant ? { variant } : {}) };
  }
  const os = env.get('TARGETOS');
  const architecture = env.get('TARGETARCH');
  const variant = env.get('TARGETVARIANT');
  if (os === undefined && architecture === undefined && variant === undefined) return undefined;
  return { os: os ?? '', architecture: architecture ?? '', ...(variant ? { variant } : {}) };
}

/**
 * The platform part of a multi-platform progress name: `linux/amd64` for the stage's platform,
 * with `->arm64` (same OS) or `->windows/amd64` appended when the RUN targets another platform
 * through TARGET* variables (cross-compilation).
 */
export function platformLabel(platform: Platform, env: Env): string {
  const base = formatPlatformArg(platform);
  const target = platformFromEnv(env);
  if (!target) return base;
  const p = normalizePlatform({
    os: target.os || platform.os,
    architecture: target.architecture || platform.architecture,
    ...(target.variant ? { variant: target.variant } : {}),
  });
  if (p.os === platform.os && p.architecture !== platform.architecture) {
    return `${base}->${p.variant ? `${p.architecture}/${p.variant}` : p.architecture}`;
  }
  return p.os !== platform.os ? `${base}->${formatPlatformArg(p)}` : base;
}

/**
 * The prefix of a step's progress name: `[builder 2/5] `, `[ 3/12] `, `[linux/arm64 stage-1 1/2] `.
 * Empty when the stage counts no steps.
 */
export function stepPrefix(opts: {
  index: number;
  total: number;
  stageName?: string;
  platform?: string;
}): string {
  if (opts.total === 0) return '';
  const width = Math.floor(1 + Math.log10(opts.total));
  const parts = [opts.platform, opts.stageName].filter((p) => p);
  const counter = `${String(opts.index).padStart(width)}/${opts.total}`;
  return `[${[...parts, counter].join(' ')}] `;
}

/**
 * An instruction as progress shows it: its source text with variables expanded and the keyword
 * upper-cased. RUN keeps its quotes and leaves unset variables as written; other instructions are
 * expanded like words (quotes removed, unset variables empty). Falls back to the text as written
 * when it cannot be expanded. For a single-heredoc RUN, pass the text with its summary appended.
 */
export function displayCommand(text: string, opts: { lexer: ShellLexer; env: Env; run: boolean }): string {
  let shown = text;
  try {
    const lexer = opts.run ? opts.lexer.with({ skipUnsetEnv: true, rawQuotes: true }) : opts.lexer;
    shown = lexer.processWord(text, opts.env);
  } catch {
    // BuildKit shows the unexpanded text in this case.
  }
  const space = shown.indexOf(' ');
  return space < 0 ? shown.toUpperCase() : shown.slice(0, space).toUpperCase() + shown.slice(space);
}
