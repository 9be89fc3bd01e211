import { atLines } from '../errors.js';
import { type Env, ShellLexer } from '../shell-lexer.js';
import { resolveMount } from './mounts.js';
import type { Instruction, KeyValue, SourceContent } from './types.js';

/** Heredoc bodies are expanded without quote processing and always with `\` as the escape. */
const heredocLexer = new ShellLexer({ skipProcessQuotes: true });

/**
 * Expands variables in an instruction the way BuildKit does before dispatching it, using `env`
 * (the stage's environment: image ENV, ENV and ARG values so far):
 * ENV and LABEL (keys and values), ARG (names and defaults), ADD and COPY (sources, destination,
 * `--chown`, `--chmod`, `--checksum`, `--exclude`, and the bodies of unquoted heredocs), WORKDIR,
 * USER, VOLUME, STOPSIGNAL, EXPOSE (with word splitting) and the `--mount` options of RUN (which
 * are parsed and validated here: `resolved` is filled in). The commands of RUN, CMD, ENTRYPOINT,
 * HEALTHCHECK and SHELL are left to the shell, and `COPY --from`, ONBUILD and MAINTAINER are never
 * expanded.
 *
 * Returns a new instruction. Throws DockerfileError at the instruction's lines (message as
 * BuildKit: `failed to process "…": …`, or the mount error).
 */
export function expandInstruction(
  instruction: Instruction,
  opts: { lexer: ShellLexer; env: Env },
): Instruction {
  const word = (w: string): string => opts.lexer.processWord(w, opts.env);
  const optional = (w: string | undefined): { value?: string } => (w === undefined ? {} : { value: word(w) });
  const pairs = (list: readonly KeyValue[]): KeyValue[] =>
    list.map((p) => ({ key: word(p.key), value: word(p.value) }));
  const contents = (list: readonly SourceContent[]): SourceContent[] =>
    list.map((c) => (c.expand ? { ...c, data: heredocLexer.processWord(c.data, opts.env) } : c));
  try {
    const i = instruction;
    switch (i.kind) {
      case 'env':
      case 'label':
        return { ...i, pairs: pairs(i.pairs) };
      case 'arg':
        return {
          ...i,
          args: i.args.map((a) => ({
            ...a,
            key: word(a.key),
            ...(a.value === undefined ? {} : { value: word(a.value) }),
          })),
        };
      case 'add':
      case 'copy': {
        const chown = optional(i.chown).value;
        const chmod = optional(i.chmod).value;
        const extra = i.kind === 'add' && i.checksum !== undefined ? { checksum: word(i.checksum) } : {};
        return {
          ...i,
          ...(chown === undefined ? {} : { chown }),
          ...(chmod === undefined ? {} : { chmod }),
          ...extra,
          sources: i.sources.map(word),
          dest: word(i.dest),
          excludes: i.excludes.map(word),
          contents: contents(i.contents),
        };
      }
      case 'workdir':
        return { ...i, path: word(i.path) };
      case 'user':
        return { ...i, user: word(i.user) };
      case 'volume':
        return { ...i, volumes: i.volumes.map(word) };
      case 'stopsignal':
        return { ...i, signal: word(i.signal) };
      case 'expose':
        return { ...i, ports: i.ports.flatMap((p) => opts.lexer.processWords(p, opts.env)) };
      case 'run':
        return { ...i, mounts: i.mounts.map((m) => ({ ...m, resolved: resolveMount(m.text, word) })) };
      default:
        return i;
    }
  } catch (err) {
    throw atLines(err, instruction.location);
  }
}
