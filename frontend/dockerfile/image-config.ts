import type { ContainerConfig, HealthConfig, HistoryEntry, ImageConfig, Platform } from '../../oci/index.js';
import type { ArgValue } from './build-args.js';
import { goDuration, goQuote, goQuoteList, goQuoteRune } from './go-text.js';
import { goJSON } from './go-json.js';

/** The `comment` BuildKit's Dockerfile frontend puts on every history entry it writes. */
export const historyComment = 'buildkit.dockerfile.v0';

/** PATH given to images that have none, by OS. */
export function defaultPathEnv(os: string): string {
  return os === 'windows'
    ? 'c:\\Windows\\System32;c:\\Windows'
    : '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
}

/** The shell that runs shell-form commands when the image sets no SHELL. */
export function defaultShell(os: string): string[] {
  return os === 'windows' ? ['cmd', '/S', '/C'] : ['/bin/sh', '-c'];
}

/** The image config of `FROM scratch`: the target platform, WorkingDir `/` and a default PATH. */
export function emptyImageConfig(platform: Platform): ImageConfig {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    rootfs: { type: 'layers', diff_ids: [] },
    config: { Env: [`PATH=${defaultPathEnv(platform.os)}`], WorkingDir: '/' },
  };
}

const containerFields = [
  'User',
  'ExposedPorts',
  'Env',
  'Entrypoint',
  'Cmd',
  'Volumes',
  'WorkingDir',
  'Labels',
  'StopSignal',
  'Healthcheck',
  'ArgsEscaped',
  'OnBuild',
  'StopTimeout',
  'Shell',
] as const;

/**
 * A base image's config as BuildKit keeps it: only the fields its image type knows survive (the
 * Docker-only `container_config`, `Hostname`, … are dropped) and `created` is cleared.
 */
export function baseImageConfig(config: ImageConfig): ImageConfig {
  const source = (config.config ?? {}) as Record<string, unknown>;
  const kept: Record<string, unknown> = {};
  for (const field of containerFields) if (source[field] !== undefined) kept[field] = source[field];
  const { created: _created, ...rest } = config;
  return {
    ...rest,
    config: kept as ContainerConfig,
    history: [...(config.history ?? [])],
    rootfs: config.rootfs ?? { type: 'layers', diff_ids: [] },
  };
}

/** One history entry as BuildKit writes it; `created` only when SOURCE_DATE_EPOCH is set. */
export function historyEntry(createdBy: string, emptyLayer: boolean, created?: string): HistoryEntry {
  return {
    ...(created === undefined ? {} : { created }),
    created_by: createdBy,
    comment: historyComment,
    ...(emptyLayer ? { empty_layer: true } : {}),
  };
}

/** SOURCE_DATE_EPOCH (seconds) as Go writes a UTC time: `2023-01-01T00:00:00Z`. */
export function epochTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** Shell form: the image's SHELL (or the OS default) followed by the command as one string. */
export function withShell(image: ImageConfig, args: readonly string[]): string[] {
  const shell = image.config?.Shell?.length ? [...image.config.Shell] : defaultShell(image.os);
  return [...shell, args.join(' ')];
}

/**
 * The `created_by` of a RUN: the ARGs declared in the stage as `|N K=V …` (values as the RUN sees
 * them), then the command. ENV, build args and the proxy settings do not appear otherwise.
 */
export function runHistory(
  args: readonly string[],
  buildArgs: readonly ArgValue[],
  env: ReadonlyMap<string, string>,
): string {
  const pairs = buildArgs.map((a) => `${a.key}=${env.get(a.key) ?? a.value ?? ''}`);
  const prefix = pairs.length > 0 ? [`|${pairs.length}`, ...pairs] : [];
  return `RUN ${[...prefix, ...args].join(' ')}`;
}

/** `HEALTHCHECK %q` of BuildKit's HealthConfig pointer, e.g. `HEALTHCHECK &{["CMD" "x"] "5s" "0s" "0s" '\x03'}`. */
export function healthcheckHistory(h: HealthConfig): string {
  const durations = [h.Interval, h.Timeout, h.StartPeriod];
  // StartInterval is newer than BuildKit v0.11.6; its field shows only when used.
  if (h.StartInterval) durations.push(h.StartInterval);
  const fields = [
    goQuoteList(h.Test ?? []),
    ...durations.map((d) => goQuote(goDuration(d ?? 0))),
    goQuoteRune(h.Retries ?? 0),
  ];
  return `HEALTHCHECK &{${fields.join(' ')}}`;
}

/** `EXPOSE %v` of a Go map of ports: `EXPOSE map[443/tcp:{} 80/tcp:{}]` (keys sorted). */
export function exposeHistory(ports: readonly string[]): string {
  return `EXPOSE map[${[...ports]
    .sort()
    .map((p) => `${p}:{}`)
    .join(' ')}]`;
}

function sortedKeys<T>(record: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!record) return undefined;
  const keys = Object.keys(record).sort();
  if (keys.length === 0) return undefined;
  return Object.fromEntries(keys.map((k) => [k, record[k]!]));
}

function nonEmpty<T>(list: readonly T[] | null | undefined): readonly T[] | undefined {
  return list && list.length > 0 ? list : undefined;
}

/**
 * Serialises an image config exactly as BuildKit's frontend does (`json.Marshal` of its Image
 * type): Go field order, empty fields omitted, `OnBuild` always present (null when empty), map
 * keys sorted, Go's HTML-safe escaping. This is the `containerimage.config` the exporter receives.
 */
export function marshalImageConfig(image: ImageConfig): string {
  const c = image.config ?? {};
  const h = c.Healthcheck;
  const health = h && {
    Test: nonEmpty(h.Test),
    Interval: h.Interval || undefined,
    Timeout: h.Timeout || undefined,
    StartPeriod: h.StartPeriod || undefined,
    StartInterval: h.StartInterval || undefined,
    Retries: h.Retries || undefined,
  };
  const config = {
    User: c.User || undefined,
    ExposedPorts: sortedKeys(c.ExposedPorts),
    Env: nonEmpty(c.Env),
    Entrypoint: nonEmpty(c.Entrypoint),
    Cmd: nonEmpty(c.Cmd),
    Volumes: sortedKeys(c.Volumes),
    WorkingDir: c.WorkingDir || undefined,
    Labels: sortedKeys(c.Labels),
    StopSignal: c.StopSignal || undefined,
    Healthcheck: health,
    ArgsEscaped: c.ArgsEscaped || undefined,
    OnBuild: c.OnBuild ?? null,
    StopTimeout: (c as { StopTimeout?: number }).StopTimeout,
    Shell: nonEmpty(c.Shell),
  };
  const out = {
    created: image.created || undefined,
    author: image.author || undefined,
    architecture: image.architecture,
    variant: image.variant || undefined,
    os: image.os,
    'os.version': image['os.version'] || undefined,
    'os.features': nonEmpty(image['os.features']),
    rootfs: { type: image.rootfs.type, diff_ids: nonEmpty(image.rootfs.diff_ids) ?? null },
    history: nonEmpty(
      image.history?.map((e) => ({
        created: e.created || undefined,
        created_by: e.created_by || undefined,
        author: e.author || undefined,
        comment: e.comment || undefined,
        empty_layer: e.empty_layer || undefined,
      })),
    ),
    config,
  };
  return goJSON(out);
}
