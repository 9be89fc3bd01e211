import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import type { FileStat } from './fs-stat.js';

let missingTool = false;

/**
 * Applies the extended attributes of received entries. Node has no xattr API, so all of them go
 * to one `setfattr --restore` process (package `attr`); without that tool they are skipped with
 * a warning. Cost: nothing when no entry carries xattrs.
 */
export async function applyXattrs(
  dest: string,
  entries: Iterable<{ stat: FileStat }>,
  logger?: Logger,
): Promise<void> {
  let dump = '';
  for (const { stat } of entries) {
    const names = Object.keys(stat.xattrs);
    if (names.length === 0) continue;
    dump += `# file: ${escapePath(stat.path)}\n`;
    for (const name of names.sort())
      dump += `${name}=0x${Buffer.from(stat.xattrs[name] as Uint8Array).toString('hex')}\n`;
    dump += '\n';
  }
  if (!dump) return;
  if (missingTool) return;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('setfattr', ['-h', '--restore=-'], { cwd: dest, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        missingTool = true;
        logger?.warn(
          'setfattr is not installed (package attr); extended attributes of received files are dropped',
        );
        resolve();
      } else reject(err);
    });
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`setfattr exited with ${code}: ${stderr.trim()}`)),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(dump);
  });
}

/** getfattr's dump escapes: octal for bytes outside printable ASCII and for the backslash. */
function escapePath(path: string): string {
  let out = '';
  for (const byte of Buffer.from(path)) {
    out +=
      byte < 0x21 || byte > 0x7e || byte === 0x5c
        ? `\\${byte.toString(8).padStart(3, '0')}`
        : String.fromCharCode(byte);
  }
  return out;
}
