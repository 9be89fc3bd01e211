/**
 * JSON text as Go's `encoding/json` writes it. BuildKit hands JSON produced by Go to clients
 * (subrequest results, the image config the exporter hashes), so byte equality needs Go's
 * escaping: `<`, `>`, `&`, U+2028 and U+2029 are escaped, and `\b`/`\f` are written as `\u00XX`.
 * Key order is the caller's: build objects with keys in the order Go's struct fields have.
 */
export function goJSON(value: unknown, indent = ''): string {
  const text = JSON.stringify(value, null, indent === '' ? undefined : indent);
  return text.replace(/\\[\s\S]|[<>&\u2028\u2029]/g, (m) => {
    switch (m) {
      case '\\b':
        return '\\u0008';
      case '\\f':
        return '\\u000c';
      case '<':
        return '\\u003c';
      case '>':
        return '\\u003e';
      case '&':
        return '\\u0026';
      case '\u2028':
        return '\\u2028';
      case '\u2029':
        return '\\u2029';
      default:
        return m;
    }
  });
}
