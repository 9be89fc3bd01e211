export { DockerfileError, TargetNotFoundError, WordExpansionError } from './errors.js';
export {
  type Env,
  type EscapeToken,
  type Expansion,
  type ShellLexerOptions,
  ShellLexer,
  envFromList,
} from './shell-lexer.js';
