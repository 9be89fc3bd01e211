import { DockerfileError } from '../errors.js';
import type { Node, ParseResult } from '../parser/node.js';
import { parseInstruction } from './parse-instruction.js';
import type { ArgInstruction, Dockerfile, Instruction, Stage } from './types.js';

/**
 * Groups parsed nodes into stages: ARGs before the first FROM are meta ARGs, every FROM opens a
 * stage, everything else belongs to the current stage. Pure.
 *
 * Throws DockerfileError whose message is BuildKit's `dockerfile parse error on line N: <reason>`
 * (`unknown instruction: FOO`, `FROM requires either one or three arguments`, `unknown flag: x`, …)
 * or `no build stage in current context` for an instruction before the first FROM.
 */
export function parseStages(input: ParseResult | readonly Node[]): Dockerfile {
  const nodes = 'nodes' in input ? input.nodes : input;
  const stages: { stage: Omit<Stage, 'commands'>; commands: Instruction[] }[] = [];
  const metaArgs: ArgInstruction[] = [];
  for (const node of nodes) {
    let instruction;
    try {
      instruction = parseInstruction(node);
    } catch (err) {
      if (!(err instanceof DockerfileError)) throw err;
      throw new DockerfileError({
        reason: err.reason,
        message: `dockerfile parse error on line ${node.startLine}: ${err.reason}`,
        startLine: err.startLine,
        endLine: err.endLine,
        cause: err,
      });
    }
    if (instruction.kind === 'from') {
      const { stageName, baseName, platform, comment, code, location } = instruction;
      const stage = {
        index: stages.length,
        ...(stageName === undefined ? {} : { name: stageName }),
        baseName,
        ...(platform === undefined ? {} : { platform }),
        ...(comment === undefined ? {} : { comment }),
        code,
        location,
      };
      stages.push({ stage, commands: [] });
      continue;
    }
    if (stages.length === 0) {
      if (instruction.kind === 'arg') {
        metaArgs.push(instruction);
        continue;
      }
      throw new DockerfileError({
        reason: 'no build stage in current context',
        startLine: node.startLine,
        endLine: node.endLine,
      });
    }
    stages[stages.length - 1]!.commands.push(instruction);
  }
  return { stages: stages.map(({ stage, commands }) => ({ ...stage, commands })), metaArgs };
}

/**
 * Finds a stage by its `AS` name (case-insensitive), as `--target` and `COPY --from` do. When a
 * name is used twice the later stage wins, as in BuildKit.
 */
export function findStage(dockerfile: Dockerfile, name: string): Stage | undefined {
  const lower = name.toLowerCase();
  return dockerfile.stages.findLast((s) => s.name === lower);
}
