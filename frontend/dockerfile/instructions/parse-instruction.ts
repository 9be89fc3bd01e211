import { DockerfileError } from '../errors.js';
import { goQuote, parseGoDuration, trimSpace } from '../go-text.js';
import { chompHeredocContent, isHeredocMarker } from '../parser/heredoc.js';
import { type Node, nodeArgs } from '../parser/node.js';
import { withSuggestion } from '../suggest.js';
import { FlagError, InstructionFlags } from './flags.js';
import { parseMountSpec } from './mounts.js';
import type {
  ArgDefinition,
  CommandLine,
  FromInstruction,
  HealthSpec,
  Instruction,
  KeyValue,
  NetworkMode,
  SecurityMode,
  SourceContent,
} from './types.js';

/** The instruction keywords BuildKit knows, upper-cased (for "did you mean" hints). */
export const instructionNames = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
];

interface Request {
  readonly node: Node;
  readonly args: string[];
  readonly flags: InstructionFlags;
  readonly common: { keyword: string; code: string; location: { start: number; end: number } };
}

const fail = (reason: string): FlagError => new FlagError(reason);
const atLeastOne = (cmd: string): FlagError => fail(`${cmd} requires at least one argument`);
const exactlyOne = (cmd: string): FlagError => fail(`${cmd} requires exactly one argument`);
const noDestination = (cmd: string): FlagError =>
  fail(
    `${cmd} requires at least two arguments, but only one was provided. Destination could not be determined`,
  );

function commentFor(comments: readonly string[], name: string | undefined): string | undefined {
  if (!name) return undefined;
  const line = comments.find((c) => c.startsWith(`${name} `));
  return line === undefined ? undefined : line.slice(name.length + 1);
}

function keyValues(args: string[], cmd: string): KeyValue[] {
  if (args.length === 0) throw atLeastOne(cmd);
  if (args.length % 2 !== 0) throw fail(`Bad input to ${cmd}, too many arguments`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 2) {
    if (args[i] === '') throw fail(`${cmd} names can not be blank`);
    pairs.push({ key: args[i]!, value: args[i + 1]! });
  }
  return pairs;
}

function commandLine(req: Request): CommandLine {
  const args = req.node.json ? req.args : req.args.length === 0 ? [] : [req.args.join(' ')];
  const files = req.node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp }));
  return { args, prependShell: !req.node.json, files };
}

function sourcesAndDest(req: Request, cmd: 'ADD' | 'COPY') {
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

function interval(name: string, value: string | undefined): number {
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

function healthcheck(req: Request): HealthSpec {
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

function argDefinitions(req: Request): ArgDefinition[] {
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

function parseFrom(req: Request): FromInstruction {
  const args = req.args;
  let stageName: string | undefined;
  if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
    stageName = args[2]!.toLowerCase();
    if (!/^[a-z][a-z0-9\-_.]*$/.test(stageName)) {
      throw fail(
        `invalid name for build stage: ${goQuote(args[2]!)}, name can't start with a number or contain symbols`,
      );
    }
  } else if (args.length !== 1) {
    throw fail('FROM requires either one or three arguments');
  }
  const platform = req.flags.string('platform');
  req.flags.parse();
  const comment = commentFor(req.node.comments, stageName);
  return {
    kind: 'from',
    ...req.common,
    baseName: args[0]!,
    ...(stageName === undefined ? {} : { stageName }),
    ...(platform() === undefined ? {} : { platform: platform()! }),
    ...(comment === undefined ? {} : { comment }),
  };
}

function parseOnbuild(req: Request): Instruction {
  if (req.args.length === 0) throw atLeastOne('ONBUILD');
  req.flags.parse();
  const trigger = trimSpace(req.args[0]!).toUpperCase();
  if (trigger === 'ONBUILD') throw fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (trigger === 'MAINTAINER' || trigger === 'FROM')
    throw fail(`${trigger} isn't allowed as an ONBUILD trigger`);
  let expression = req.node.original.replace(/^[\t\n\f\r ]*onbuild[\t\n\f\r ]*/i, '');
  for (const doc of req.node.heredocs) expression += `\n${doc.content}${doc.name}`;
  return { kind: 'onbuild', ...req.common, expression };
}

function parseRun(req: Request): Instruction {
  const f = req.flags;
  const mounts = f.strings('mount');
  const network = f.string('network');
  const security = f.string('security');
  f.parse();
  const flagsUsed = f.usedNames();
  const command = commandLine(req);
  const specs = mounts().map(parseMountSpec);
  const net = network() ?? 'default';
  if (net !== 'default' && net !== 'none' && net !== 'host')
    throw fail(`invalid network mode ${goQuote(net)}`);
  const sec = security() ?? 'sandbox';
  if (sec !== 'sandbox' && sec !== 'insecure') throw fail(`security ${goQuote(sec)} is not valid`);
  return {
    kind: 'run',
    ...req.common,
    command,
    mounts: specs,
    network: net as NetworkMode,
    security: sec as SecurityMode,
    flagsUsed,
  };
}

function parseCopyOrAdd(req: Request, cmd: 'ADD' | 'COPY'): Instruction {
  if (req.args.length < 2) throw noDestination(cmd);
  const f = req.flags;
  const chown = f.string('chown');
  const chmod = f.string('chmod');
  const link = f.bool('link');
  const excludes = f.strings('exclude');
  const from = cmd === 'COPY' ? f.string('from') : () => undefined;
  const parents = cmd === 'COPY' ? f.bool('parents') : () => false;
  const keepGitDir = cmd === 'ADD' ? f.bool('keep-git-dir') : () => false;
  const checksum = cmd === 'ADD' ? f.string('checksum') : () => undefined;
  f.parse();
  const common = {
    ...req.common,
    ...sourcesAndDest(req, cmd),
    ...(chown() === undefined ? {} : { chown: chown()! }),
    ...(chmod() === undefined ? {} : { chmod: chmod()! }),
    link: link(),
    excludes: excludes(),
  };
  if (cmd === 'COPY') {
    return {
      kind: 'copy',
      ...common,
      ...(from() === undefined ? {} : { from: from()! }),
      parents: parents(),
    };
  }
  return {
    kind: 'add',
    ...common,
    keepGitDir: keepGitDir(),
    ...(checksum() === undefined ? {} : { checksum: checksum()! }),
  };
}

function dispatch(req: Request): Instruction | FromInstruction {
  const { args, flags, common } = req;
  const one = (cmd: string): string => {
    if (args.length !== 1) throw exactlyOne(cmd);
    return args[0]!;
  };
  switch (req.node.value.toLowerCase()) {
    case 'env':
      flags.parse();
      return { kind: 'env', ...common, pairs: keyValues(args, 'ENV') };
    case 'maintainer': {
      const maintainer = one('MAINTAINER');
      flags.parse();
      return { kind: 'maintainer', ...common, maintainer };
    }
    case 'label':
      flags.parse();
      return { kind: 'label', ...common, pairs: keyValues(args, 'LABEL') };
    case 'add':
      return parseCopyOrAdd(req, 'ADD');
    case 'copy':
      return parseCopyOrAdd(req, 'COPY');
    case 'from':
      return parseFrom(req);
    case 'onbuild':
      return parseOnbuild(req);
    case 'workdir': {
      const path = one('WORKDIR');
      flags.parse();
      return { kind: 'workdir', ...common, path };
    }
    case 'run':
      return parseRun(req);
    case 'cmd':
      flags.parse();
      return { kind: 'cmd', ...common, command: commandLine(req) };
    case 'entrypoint':
      flags.parse();
      return { kind: 'entrypoint', ...common, command: commandLine(req) };
    case 'healthcheck':
      return { kind: 'healthcheck', ...common, health: healthcheck(req) };
    case 'expose':
      if (args.length === 0) throw atLeastOne('EXPOSE');
      flags.parse();
      return { kind: 'expose', ...common, ports: [...args].sort() };
    case 'user': {
      const user = one('USER');
      flags.parse();
      return { kind: 'user', ...common, user };
    }
    case 'volume': {
      if (args.length === 0) throw atLeastOne('VOLUME');
      flags.parse();
      const volumes = args.map(trimSpace);
      if (volumes.includes('')) throw fail('VOLUME specified can not be an empty string');
      return { kind: 'volume', ...common, volumes };
    }
    case 'stopsignal':
      return { kind: 'stopsignal', ...common, signal: one('STOPSIGNAL') };
    case 'arg':
      return { kind: 'arg', ...common, args: argDefinitions(req) };
    case 'shell': {
      flags.parse();
      const shell = req.node.json ? args : args.length === 0 ? [] : [args.join(' ')];
      if (shell.length === 0) throw atLeastOne('SHELL');
      if (!req.node.json) throw fail('SHELL requires the arguments to be in JSON form');
      return { kind: 'shell', ...common, shell };
    }
    default:
      throw fail(
        withSuggestion(`unknown instruction: ${req.node.value}`, req.node.value, instructionNames, false),
      );
  }
}

/**
 * Turns one parsed node into a typed instruction (FROM yields a FromInstruction), validating flags
 * and arguments. Throws DockerfileError at the node's lines with BuildKit's message (no
 * `dockerfile parse error on line N:` prefix; parseStages adds it).
 */
export function parseInstruction(node: Node): Instruction | FromInstruction {
  const req: Request = {
    node,
    args: nodeArgs(node),
    flags: new InstructionFlags(node.flags),
    common: {
      keyword: node.value,
      code: trimSpace(node.original),
      location: { start: node.startLine, end: node.endLine },
    },
  };
  try {
    return dispatch(req);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    throw new DockerfileError({
      reason: err.message,
      startLine: node.startLine,
      endLine: node.endLine,
      cause: err,
    });
  }
}
