import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientOutputError } from '../errors.js';
import { writeFileAtomic } from '../options/metadata-file.js';

const refNameAnnotation = 'org.opencontainers.image.ref.name';

interface IndexDescriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

interface OciIndexJson {
  schemaVersion?: number;
  manifests?: IndexDescriptor[];
  [key: string]: unknown;
}

/**
 * The descriptor tagged `tag` (`org.opencontainers.image.ref.name`) in `dir/index.json`;
 * undefined when the file or the tag is missing. Throws ClientOutputError on malformed JSON.
 */
export async function getIndexTag(dir: string, tag: string): Promise<IndexDescriptor | undefined> {
  const path = join(dir, 'index.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const index = JSON.parse(text) as OciIndexJson;
    return index.manifests?.find((m) => m.annotations?.[refNameAnnotation] === tag);
  } catch (err) {
    throw new ClientOutputError({
      path,
      message: `could not unmarshal ${path}: ${(err as Error).message}`,
      cause: err,
    });
  }
}

/**
 * Adds `descriptor` to `dir/index.json` tagged `tag`, replacing any descriptor with the same tag
 * (what buildctl does after a local cache export or an OCI directory output).
 */
export async function putIndexTag(dir: string, tag: string, descriptor: IndexDescriptor): Promise<void> {
  const path = join(dir, 'index.json');
  let index: OciIndexJson = {};
  try {
    const text = await readFile(path, 'utf8');
    if (text.length > 0) index = JSON.parse(text) as OciIndexJson;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ClientOutputError({
        path,
        message: `could not read ${path}: ${(err as Error).message}`,
        cause: err,
      });
    }
  }
  const entry = { ...descriptor, annotations: { ...descriptor.annotations, [refNameAnnotation]: tag } };
  const manifests = (index.manifests ?? []).filter((m) => m.annotations?.[refNameAnnotation] !== tag);
  const out = { ...index, schemaVersion: index.schemaVersion || 2, manifests: [...manifests, entry] };
  await writeFileAtomic(path, JSON.stringify(out));
}
