import type { Platform } from '../../oci/index.js';
import { WordExpansionError } from './errors.js';
import type { ArgDefinition, ArgInstruction, LineRange } from './instructions/types.js';
import type { ShellLexer } from './shell-lexer.js';

/** An ARG in scope with its effective value; `value` is absent for a declared ARG without one. */
export interface ArgValue {
  readonly key: string;
  readonly value?: string;
}

/** What `frontend.outline` reports about an ARG. */
export interface ArgInfo {
  readonly definition: ArgDefinition;
  /** The effective value (build-arg override, else the expanded default), '' when none. */
  readonly value: string;
  readonly location: LineRange;
  /** Meta ARGs its default referred to (they count as used when it is used). */
  readonly deps: ReadonlySet<string>;
}

/** `os/arch[/variant]` without normalisation, like containerd's `platforms.Format`. */
export function formatPlatformArg(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s).join('/');
}

/**
 * The automatic platform ARGs (BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT, TARGETPLATFORM,
 * TARGETOS, TARGETARCH, TARGETVARIANT). Build args given by the client override them.
 */
export function platformArgs(opts: {
  buildPlatform: Platform;
  targetPlatform: Platform;
  buildArgs?: ReadonlyMap<string, string>;
}): ArgValue[] {
  const { buildPlatform: b, targetPlatform: t } = opts;
  const defaults: [string, string][] = [
    ['BUILDPLATFORM', formatPlatformArg(b)],
    ['BUILDOS', b.os],
    ['BUILDARCH', b.architecture],
    ['BUILDVARIANT', b.variant ?? ''],
    ['TARGETPLATFORM', formatPlatformArg(t)],
    ['TARGETOS', t.os],
    ['TARGETARCH', t.architecture],
    ['TARGETVARIANT', t.variant ?? ''],
  ];
  return defaults.map(([key, value]) => ({ key, value: opts.buildArgs?.get(key) ?? value }));
}

/** The variables ARG values give to word expansion: a declared ARG without a value is set to ''. */
export function argsToEnv(args: readonly ArgValue[]): Map<string, string> {
  return new Map(args.map((a) => [a.key, a.value ?? '']));
}

/** The global ARG scope: platform ARGs, then the meta ARGs (those before the first FROM). */
export interface MetaArgs {
  /** In declaration order, platform ARGs first; what FROM lines and stage ARGs inherit. */
  readonly values: readonly ArgValue[];
  /** Outline information of the declared meta ARGs, by name. */
  readonly infos: ReadonlyMap<string, ArgInfo>;
}

/**
 * Resolves the meta ARGs: a build arg overrides the default; otherwise the default is expanded
 * with the platform ARGs and the meta ARGs declared before it. A default that cannot be expanded
 * becomes '' (BuildKit ignores that error). Pure.
 */
export function resolveMetaArgs(opts: {
  metaArgs: readonly ArgInstruction[];
  platformArgs: readonly ArgValue[];
  buildArgs: ReadonlyMap<string, string>;
  lexer: ShellLexer;
}): MetaArgs {
  const values: ArgValue[] = [...opts.platformArgs];
  const infos = new Map<string, ArgInfo>();
  for (const instruction of opts.metaArgs) {
    for (const definition of instruction.args) {
      let value: string | undefined;
      let deps: ReadonlySet<string> = new Set();
      const override = opts.buildArgs.get(definition.key);
      if (override !== undefined) {
        value = override;
      } else if (definition.value !== undefined) {
        // BuildKit discards the error here and keeps an empty value.
        try {
          const expansion = opts.lexer.process(definition.value, argsToEnv(values));
          value = expansion.result;
          deps = expansion.matched;
        } catch (err) {
          if (!(err instanceof WordExpansionError)) throw err;
          value = '';
        }
      }
      values.push(value === undefined ? { key: definition.key } : { key: definition.key, value });
      infos.set(definition.key, { definition, value: value ?? '', location: instruction.location, deps });
    }
  }
  return { values, infos };
}

/** Proxy settings taken from build args (any case); they reach RUN steps without entering cache keys or history. */
export interface ProxyEnv {
  readonly httpProxy?: string;
  readonly httpsProxy?: string;
  readonly ftpProxy?: string;
  readonly noProxy?: string;
  readonly allProxy?: string;
}

const proxyNames: Record<string, keyof ProxyEnv> = {
  http_proxy: 'httpProxy',
  https_proxy: 'httpsProxy',
  ftp_proxy: 'ftpProxy',
  no_proxy: 'noProxy',
  all_proxy: 'allProxy',
};

/**
 * The predefined proxy ARGs (HTTP_PROXY, HTTPS_PROXY, FTP_PROXY, NO_PROXY, ALL_PROXY in any case)
 * from the build args, or undefined when none is given. When both spellings are given, the
 * upper-case one wins (BuildKit's choice is random).
 */
export function proxyEnvFromBuildArgs(buildArgs: ReadonlyMap<string, string>): ProxyEnv | undefined {
  const out: Partial<Record<keyof ProxyEnv, string>> = {};
  for (const key of [...buildArgs.keys()].sort().reverse()) {
    const name = proxyNames[key.toLowerCase()];
    if (name) out[name] = buildArgs.get(key)!;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
