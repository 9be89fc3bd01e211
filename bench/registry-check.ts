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

/**
 * Unlinks blob `digest` from `repo` (the registry must allow deletes), so no later push can mount
 * it from there: skopeo remembers where it pushed a blob and mounts it instead of uploading.
 */
export async function deleteBlob(host: string, repo: string, digest: string): Promise<void> {
  const res = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`, { method: 'DELETE' });
  await res.arrayBuffer();
  if (!res.ok && res.status !== 404) throw new Error(`DELETE blob ${digest} in ${repo}: ${res.status}`);
}
