import { ClientUsageError } from '../errors.js';

/**
 * Splits one comma-separated record the way Go's encoding/csv reads the first record of a flag
 * value (buildctl parses `--output`, `--export-cache`, `--secret` with it): a field may be
 * quoted, `""` inside quotes is a quote, a bare quote in an unquoted field is an error, and a
 * newline outside quotes ends the record.
 */
export function readCsvRecord(text: string, option: string): string[] {
  const fields: string[] = [];
  let i = 0;
  const fail = (column: number, what: string): never => {
    throw new ClientUsageError({ option, message: `parse error on line 1, column ${column}: ${what}` });
  };
  if (text === '') throw new ClientUsageError({ option, message: 'EOF' });
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) fail(i + 1, 'extraneous or missing " in quoted-field');
        const ch = text[i]!;
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += ch;
        i++;
      }
      if (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
        fail(i + 1, 'extraneous or missing " in quoted-field');
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\n') {
        if (text[i] === '"') fail(i + 1, 'bare " in non-quoted-field');
        field += text[i];
        i++;
      }
      if (field.endsWith('\r')) field = field.slice(0, -1);
    }
    fields.push(field);
    if (i < text.length && text[i] === ',') {
      i++;
      continue;
    }
    return fields;
  }
}

/** `key=value` fields of a CSV record, keys lower-cased (buildctl's rule for exporter and cache attrs). */
export function csvAttrs(text: string, option: string): Array<[string, string]> {
  return readCsvRecord(text, option).map((field) => {
    const eq = field.indexOf('=');
    if (eq < 0) throw new ClientUsageError({ option, message: `invalid value ${field}` });
    return [field.slice(0, eq).toLowerCase(), field.slice(eq + 1)];
  });
}

/** `k=v` pairs as a map (`--opt`, `--local`): the first `=` splits; later duplicates win. */
export function attrMap(values: readonly string[], option: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq < 0) throw new ClientUsageError({ option, message: `invalid value ${value}` });
    out[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return out;
}
