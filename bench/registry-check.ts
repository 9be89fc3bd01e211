const accept = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/**
 * Whether `host` (plain HTTP) serves a manifest for `repo:tag`: how a workload checks that a push
 * or a cache export really happened, since a daemon may ignore an option it does not support.
 */
export async function manifestExists(host: string, repo: string, tag: string): Promise<boolean> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept },
  });
  return res.ok;
}
