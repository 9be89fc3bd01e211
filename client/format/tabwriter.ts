/**
 * Go's text/tabwriter for the tables BuildKit's tools print: cells end at `\t`, consecutive lines
 * sharing a column form a block aligned to its widest cell (+ padding); with `padChar` `\t` the
 * width is rounded up to `tabWidth` and filled with tabs. The text of one flush is formatted at
 * once, as `tw.Flush()` does.
 */
export interface TabwriterOptions {
  readonly minWidth: number;
  readonly tabWidth: number;
  readonly padding: number;
  readonly padChar: string;
}

interface Cell {
  readonly text: string;
  readonly width: number;
}

function runeCount(text: string): number {
  return [...text].length;
}

export function tabwrite(text: string, options: TabwriterOptions): string {
  const rawLines = text.split('\n');
  const lines: Cell[][] = rawLines.map((line) =>
    line.split('\t').map((t) => ({ text: t, width: runeCount(t) })),
  );
  let out = '';
  const widths: number[] = [];

  const padding = (textWidth: number, cellWidth: number): string => {
    if (options.padChar === '\t') {
      if (options.tabWidth === 0) return '';
      const cw = Math.ceil(cellWidth / options.tabWidth) * options.tabWidth;
      return '\t'.repeat(Math.ceil((cw - textWidth) / options.tabWidth));
    }
    return options.padChar.repeat(Math.max(0, cellWidth - textWidth));
  };

  const writeLines = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const line = lines[i]!;
      line.forEach((cell, j) => {
        out += cell.text;
        if (j < widths.length && j < line.length - 1) out += padding(cell.width, widths[j]!);
      });
      if (i + 1 < lines.length) out += '\n';
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let current = line0; current < line1; current++) {
      if (column >= lines[current]!.length - 1) continue;
      writeLines(start, current);
      start = current;
      let width = options.minWidth;
      for (; current < line1; current++) {
        const line = lines[current]!;
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column]!.width + options.padding);
      }
      widths.push(width);
      format(start, current);
      widths.pop();
      start = current;
      current--;
    }
    writeLines(start, line1);
  };

  format(0, lines.length);
  return out;
}
