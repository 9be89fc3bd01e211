import { runTool } from './mounting.js';

/**
 * Copies a file from a lower layer into the writable dir with everything that makes it the same
 * file (content as a reflink where possible, owner, mode, xattrs, times), as overlayfs would on
 * copy-up. Used when a layer hardlinks to a file it did not itself contain, which is rare, so one
 * `cp` process per copy is fine.
 */
export async function copyUp(source: string, target: string): Promise<void> {
  const r = await runTool('cp', ['-a', '--reflink=auto', '--no-target-directory', source, target]);
  if (!r.ok) throw new Error(`copying ${source} up: ${r.output.trim()}`);
}
