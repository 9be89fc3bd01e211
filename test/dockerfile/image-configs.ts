import { createReadStream } from 'node:fs';
import { extract } from 'tar-stream';

interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
}

async function readTar(path: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') files.set(header.name.replace(/^\.\//, ''), Buffer.concat(chunks));
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  createReadStream(path)
    .on('error', (err) => ex.destroy(err))
    .pipe(ex);
  await done;
  return files;
}

/**
 * The image configs in an OCI tarball (`--output type=oci`), by platform (`linux/amd64`), as
 * comparable JSON: `created` times removed (unless `keepTimes`), layer diff ids replaced by their
 * number (layers carry mtimes, so their digests differ from build to build), and the given
 * host:port strings replaced by stable names.
 */
export async function readImageConfigs(
  path: string,
  opts: { keepTimes: boolean; hosts: ReadonlyMap<string, string> },
): Promise<Record<string, unknown>> {
  const files = await readTar(path);
  const blob = (digest: string): Buffer => {
    const data = files.get(`blobs/${digest.replace(':', '/')}`);
    if (!data) throw new Error(`${path} has no blob ${digest}`);
    return data;
  };
  const json = (data: Buffer): { manifests?: Descriptor[]; config?: Descriptor } =>
    JSON.parse(data.toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor };
  const out: Record<string, unknown> = {};
  const visit = (desc: Descriptor): void => {
    const doc = json(blob(desc.digest));
    if (doc.manifests) {
      for (const m of doc.manifests) visit(m);
      return;
    }
    if (!doc.config) return;
    const config = normaliseConfig(blob(doc.config.digest).toString('utf8'), opts);
    // Keyed by the config's own platform: exporters differ in whether descriptors carry one.
    out[[config.os, config.architecture, config.variant].filter(Boolean).join('/')] = config;
  };
  for (const m of json(files.get('index.json') ?? Buffer.from('{}')).manifests ?? []) visit(m);
  return out;
}

/** The config key BuildKit v0.11.6's image exporter writes build information under. */
export const buildInfoKey = 'moby.buildkit.buildinfo.v1';

/** Replaces each host:port with its stable name. */
export function replaceHosts(text: string, hosts: ReadonlyMap<string, string>): string {
  let out = text;
  for (const [host, name] of hosts) out = out.split(host).join(name);
  return out;
}

interface Config {
  os?: string;
  architecture?: string;
  variant?: string;
  created?: string;
  rootfs?: { diff_ids?: string[] | number };
  history?: { created?: string }[];
}

function normaliseConfig(
  text: string,
  opts: { keepTimes: boolean; hosts: ReadonlyMap<string, string> },
): Config {
  const config = JSON.parse(replaceHosts(text, opts.hosts)) as Config & Record<string, unknown>;
  // BuildKit v0.11.6's exporter embeds the solved sources (base64 JSON); decoded to be comparable.
  const info = config[buildInfoKey];
  if (typeof info === 'string') {
    config[buildInfoKey] = JSON.parse(replaceHosts(Buffer.from(info, 'base64').toString('utf8'), opts.hosts));
  }
  if (!opts.keepTimes) {
    delete config.created;
    for (const h of config.history ?? []) delete h.created;
  }
  if (config.rootfs)
    config.rootfs.diff_ids = Array.isArray(config.rootfs.diff_ids) ? config.rootfs.diff_ids.length : 0;
  return config;
}
