export { DockerfileError, TargetNotFoundError, WordExpansionError } from './errors.js';
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
  type CheckDirective,
  type SyntaxDirective,
  detectSyntax,
  parseCheckDirective,
} from './parser/directives.js';
