/** A build described as JSON: a base image, files, copies from the context, steps, image config. */
export interface BuildSpec {
  /** The base image (`alpine:3.19`, `127.0.0.1:5000/library/busybox:latest`). */
  readonly base: string;
  /** Environment for the steps and the image. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory for the steps and the image (created). */
  readonly workdir: string | undefined;
  /** Files written into the image. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly content: string; readonly mode: number }>;
  /** Paths copied from the build context (`from`, relative to it) to `to` in the image. */
  readonly copy: ReadonlyArray<{ readonly from: string; readonly to: string }>;
  /** Shell commands run in order (`/bin/sh -c`). */
  readonly steps: readonly string[];
  readonly cmd: readonly string[] | undefined;
  readonly labels: Readonly<Record<string, string>>;
}

/** A spec that is not what the frontend understands; the message says where. */
export class SpecError extends Error {
  readonly code = 'JSON_FRONTEND_SPEC' as const;
  readonly kind = 'invalid-argument' as const;
  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'SpecError';
  }
}

function strings(file: string, value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new SpecError(file, `${what} must be an array of strings`);
  }
  return value as string[];
}

function record(file: string, value: unknown, what: string): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SpecError(file, `${what} must be an object of strings`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new SpecError(file, `${what}.${k} must be a string`);
  }
  return value as Record<string, string>;
}

function absolute(file: string, path: unknown, what: string): string {
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new SpecError(file, `${what} must be an absolute path`);
  return path;
}

/** Parses and checks a spec; throws SpecError naming the first problem. */
export function parseSpec(file: string, data: Uint8Array): BuildSpec {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new SpecError(file, `not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new SpecError(file, 'must be a JSON object');
  if (typeof raw.base !== 'string' || raw.base === '') throw new SpecError(file, '"base" must name an image');
  const files = (Array.isArray(raw.files) ? raw.files : []) as Array<Record<string, unknown>>;
  const copies = (Array.isArray(raw.copy) ? raw.copy : []) as Array<Record<string, unknown>>;
  return {
    base: raw.base,
    env: record(file, raw.env, 'env'),
    workdir: raw.workdir === undefined ? undefined : absolute(file, raw.workdir, 'workdir'),
    files: files.map((f, i) => ({
      path: absolute(file, f.path, `files[${i}].path`),
      content: typeof f.content === 'string' ? f.content : '',
      mode: typeof f.mode === 'number' ? f.mode : 0o644,
    })),
    copy: copies.map((c, i) => {
      if (typeof c.from !== 'string')
        throw new SpecError(file, `copy[${i}].from must be a path in the context`);
      return { from: c.from, to: absolute(file, c.to, `copy[${i}].to`) };
    }),
    steps: strings(file, raw.steps, 'steps'),
    cmd: raw.cmd === undefined ? undefined : strings(file, raw.cmd, 'cmd'),
    labels: record(file, raw.labels, 'labels'),
  };
}
