import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InsightAssetMissingError } from './errors.js';

/** The page's files, by the name they are served under (`/assets/<name>`); nothing else is served. */
const files: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'dag.js': 'text/javascript; charset=utf-8',
  'timeline.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
};

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/**
 * The hand-written files are not compiled, so they are read from the source tree:
 * `<root>/daemon/insight-web/static`, found from this module in `<root>/<dist>/daemon/insight-web`.
 */
export const defaultAssetsDir = join(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'daemon',
  'insight-web',
  'static',
);

/** Reads every file of the page once (about 30 KB); throws InsightAssetMissingError. */
export async function loadAssets(dir: string = defaultAssetsDir): Promise<ReadonlyMap<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const [name, type] of Object.entries(files)) {
    const path = join(dir, name);
    const body = await readFile(path).catch((err: unknown) => {
      throw new InsightAssetMissingError({ path, cause: err });
    });
    assets.set(name, { type, body });
  }
  return assets;
}
