import type { LineRange } from './instructions/types.js';

/** A position in a source file as BuildKit's `pb.Position` has it (1-based line, character unused). */
export interface SourcePosition {
  readonly line: number;
  readonly character: number;
}

/** BuildKit's `pb.Range`. */
export interface SourceRange {
  readonly start: SourcePosition;
  readonly end: SourcePosition;
}

/**
 * The ranges BuildKit attaches to an instruction or error: one range per line of the instruction
 * (not one spanning range), which is what the LLB source map and `buildctl`'s error printer expect.
 */
export function sourceRanges(lines: LineRange): SourceRange[] {
  const out: SourceRange[] = [];
  for (let line = lines.start; line <= Math.max(lines.end, lines.start); line++) {
    out.push({ start: { line, character: 0 }, end: { line, character: 0 } });
  }
  return out;
}
