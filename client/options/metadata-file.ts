import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { ClientOutputError } from '../errors.js';
import { GoMap, RawJson, goJson } from '../format/go-json.js';

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Go's base64.StdEncoding.DecodeString: padding required, CR/LF ignored; undefined when invalid. */
function decodeStdBase64(text: string): Buffer | undefined {
  const clean = text.replace(/[\r\n]/g, '');
  return base64.test(clean) ? Buffer.from(clean, 'base64') : undefined;
}

/**
 * The `--metadata-file` document for an exporter response: each value that base64-decodes to a
 * non-empty JSON object is embedded as that object, every other value stays a string; keys
 * sorted, two-space indent, Go's HTML escaping — byte-for-byte what buildctl writes.
 */
export function metadataFileContent(response: Readonly<Record<string, string>>): string {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(response)) {
    const decoded = decodeStdBase64(value);
    let embedded: RawJson | undefined;
    if (decoded) {
      try {
        const text = decoded.toString('utf8');
        const parsed: unknown = JSON.parse(text);
        if (
          parsed &&
          typeof parsed === 'object' &&
          !Array.isArray(parsed) &&
          Object.keys(parsed).length > 0
        ) {
          embedded = new RawJson(text);
        }
      } catch {
        embedded = undefined;
      }
    }
    out[key] = embedded ?? value;
  }
  return goJson(new GoMap(out), { indent: '  ' });
}

/** Writes a file atomically (temp file + rename), as buildctl does for `--metadata-file`/`--ref-file`. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, data, { mode: 0o666 });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw new ClientOutputError({
      path,
      message: `cannot write ${path}: ${(err as Error).message}`,
      cause: err,
    });
  }
}

/** Writes the `--metadata-file` for an exporter response. */
export async function writeMetadataFile(
  path: string,
  response: Readonly<Record<string, string>>,
): Promise<void> {
  await writeFileAtomic(path, metadataFileContent(response));
}
