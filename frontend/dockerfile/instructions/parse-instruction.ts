import { DockerfileError } from '../errors.js';
import { goQuote, trimSpace } from '../go-text.js';
import { type Node, nodeArgs } from '../parser/node.js';
import { withSuggestion } from '../suggest.js';
import { FlagError, InstructionFlags } from './flags.js';
import { parseMountSpec } from './mounts.js';
import {
  type Request,
  argDefinitions,
  atLeastOne,
  commandLine,
  commentFor,
  exactlyOne,
  fail,
  healthcheck,
  keyValues,
  noDestination,
  sourcesAndDest,
} from './parse-arguments.js';
import type { FromInstruction, Instruction, NetworkMode, SecurityMode } from './types.js';

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
