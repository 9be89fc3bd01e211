/**
 * Go's text/tabwriter as BuildKit's subrequest printers use it (minwidth 0, padding N, spaces,
 * no flags): cells end at a tab; a column's width is its widest cell (in runes) plus the padding,
 * computed over each run of consecutive lines that have that column; the last cell of a line is
 * printed as is. Lines without tabs end a block.
 */
export function tabwrite(text: string, padding: number): string {
  const lines = text.split('\n');
  const trailing = lines.pop();
  const rows = lines.map((l) => l.split('\t'));
  const width = (s: string): number => Array.from(s).length;
  const out: string[] = rows.map(() => '');
  const format = (from: number, to: number, column: number): void => {
    for (let i = from; i < to;) {
      if (rows[i]!.length - 1 <= column) {
        i++;
        continue;
      }
      let end = i;
      let w = 0;
      while (end < to && rows[end]!.length - 1 > column) {
        w = Math.max(w, width(rows[end]![column]!) + padding);
        end++;
      }
      for (let j = i; j < end; j++) {
        const cell = rows[j]![column]!;
        out[j] += cell + ' '.repeat(w - width(cell));
      }
      format(i, end, column + 1);
      i = end;
    }
  };
  format(0, rows.length, 0);
  const done = rows.map((r, i) => `${out[i]!}${r[r.length - 1]!}`);
  return done.map((l) => `${l}\n`).join('') + (trailing ?? '');
}
