import { goQuote, parseGoDuration } from '../go-text.js';
import { chompHeredocContent, isHeredocMarker } from '../parser/heredoc.js';
import type { Node } from '../parser/node.js';
import { FlagError, type InstructionFlags } from './flags.js';
import type { ArgDefinition, CommandLine, HealthSpec, KeyValue, SourceContent } from './types.js';

/** Argument readers shared by the instruction parsers; they throw FlagError with BuildKit's messages. */

export interface Request {
  readonly node: Node;
  readonly args: string[];
  readonly flags: InstructionFlags;
  readonly common: { keyword: string; code: string; location: { start: number; end: number } };
}

export const fail = (reason: string): FlagError => new FlagError(reason);
export const atLeastOne = (cmd: string): FlagError => fail(`${cmd} requires at least one argument`);
export const exactlyOne = (cmd: string): FlagError => fail(`${cmd} requires exactly one argument`);
export const noDestination = (cmd: string): FlagError =>
  fail(
    `${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`,
  );

export function commentFor(comments: readonly string[], name: string | undefined): string | undefined {
  if (!name) return undefined;
  const line = comments.find((c) => c.startsWith(`${name} `));
  return line === undefined ? undefined : line.slice(name.length + 1);
}

export function keyValues(args: string[], cmd: string): KeyValue[] {
  if (args.length === 0) throw atLeastOne(cmd);
  if (args.length % 2 !== 0) throw fail(`Bad input to ${cmd}, too many arguments`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === '') throw fail(`${cmd} names can not be blank`);
    pairs.push({ key: args[i]!, value: args[i + 1]! });
  }
  return pairs;
}

export function commandLine(req: Request): CommandLine {
  const args = req.node.json ? req.args : req.args.length === 0 ? [] : [req.args.join(' ')];
  const files = req.node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp }));
  return { args, prependShell: !req.node.json, files };
}

export function sourcesAndDest(req: Request, cmd: 'ADD' | 'COPY') {
  const dest = req.args[req.args.length - 1]!;
  if (isHeredocMarker(dest)) throw fail(`${cmd} cannot accept a heredoc as a destination`);
  const sources: string[] = [];
  const contents: SourceContent[] = [];
  for (const src of req.args.slice(0, -1)) {
    const marker = isHeredocMarker(src);
    if (!marker) {
      sources.push(src);
      continue;
    }
    const doc = req.node.heredocs.find((h) => h.name === marker.name);
    const data = doc?.content ?? '';
    contents.push({
      path: marker.name,
      data: marker.chomp ? chompHeredocContent(data) : data,
      expand: marker.expand,
    });
  }
  return { sources, contents, dest };
}

export function interval(name: string, value: string | undefined): number {
  if (value === undefined) return 0;
  let ns: number;
  try {
    ns = parseGoDuration(value);
  } catch (err) {
    throw fail((err as Error).message);
  }
  if (ns !== 0 && ns < 1e6) throw fail(`Interval ${goQuote(name)} cannot be less than 1ms`);
  return ns;
}

export function healthcheck(req: Request): HealthSpec {
  if (req.args.length === 0) throw atLeastOne('HEALTHCHECK');
  const type = req.args[0]!.toUpperCase();
  const rest = req.args.slice(1);
  const none = { interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 };
  if (type === 'NONE') {
    if (rest.length !== 0) throw fail('HEALTHCHECK NONE takes no arguments');
    return { test: ['NONE'], ...none };
  }
  const f = req.flags;
  const flags = ['interval', 'timeout', 'start-period', 'start-interval', 'retries'].map((n) => f.string(n));
  f.parse();
  if (type !== 'CMD') throw fail(`Unknown type ${goQuote(type)} in HEALTHCHECK (try CMD)`);
  const cmd = req.node.json ? rest : rest.length === 0 ? [] : [rest.join(' ')];
  if (cmd.length === 0) throw fail('Missing command after HEALTHCHECK CMD');
  const [i, t, sp, si, r] = flags.map((get) => get());
  const spec = {
    test: [req.node.json ? 'CMD' : 'CMD-SHELL', ...cmd],
    interval: interval('interval', i),
    timeout: interval('timeout', t),
    startPeriod: interval('start-period', sp),
    startInterval: interval('start-interval', si),
    retries: 0,
  };
  if (r !== undefined) {
    if (!/^[+-]?\d+$/.test(r)) throw fail(`strconv.ParseInt: parsing ${goQuote(r)}: invalid syntax`);
    const retries = Number(r);
    if (retries < -(2 ** 31) || retries > 2 ** 31 - 1) {
      throw fail(`strconv.ParseInt: parsing ${goQuote(r)}: value out of range`);
    }
    if (retries < 0) throw fail(`--retries cannot be negative (${retries})`);
    spec.retries = retries;
  }
  return spec;
}

export function argDefinitions(req: Request): ArgDefinition[] {
  if (req.args.length === 0) throw atLeastOne('ARG');
  return req.args.map((arg) => {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (eq === 0) throw fail('ARG names can not be blank');
    const comment = commentFor(req.node.comments, key);
    return {
      key,
      ...(eq < 0 ? {} : { value: arg.slice(eq + 1) }),
      ...(comment === undefined ? {} : { comment }),
    };
  });
}
