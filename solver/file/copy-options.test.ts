import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  ArchiveError,
  FileActionCanceledError,
  FilePathNotFoundError,
  FileTypeConflictError,
  InvalidFileActionError,
  applyFileAction,
} from './index.js';
import { copyOf, listTree, ownerOf, symlinkOf } from './test-support.js';

const run = promisify(execFile);

// Options BuildKit v0.11.6 cannot record (modeStr, alwaysReplaceExistingDestPaths, the symlink
// action: later BuildKit), and properties no fixture shows (large trees, cancellation).

describe('copy options beyond v0.11.6', () => {
  let work = '';
  let src = '';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-fileop-options-'));
    src = join(work, 'src');
    await mkdir(join(src, 'd/sub'), { recursive: true, mode: 0o750 });
    await writeFile(join(src, 'd/run.sh'), 'x', { mode: 0o700 });
    await writeFile(join(src, 'd/data.txt'), 'y', { mode: 0o664 });
    await writeFile(join(src, 'd/sub/f'), 'z', { mode: 0o600 });
    await run('chmod', ['0750', join(src, 'd'), join(src, 'd/sub')]);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function fresh(): Promise<string> {
    return mkdtemp(join(work, 'root-'));
  }

  it('applies a symbolic mode to files and directories (X only where executable)', async () => {
    const root = await fresh();
    await applyFileAction(copyOf('/d', '/out', { modeStr: 'go-w,a+rX', createDestPath: true }), {
      root,
      secondary: src,
    });
    const modes = Object.fromEntries((await listTree(root)).map((e) => [e.path, e.mode]));
    assert.deepEqual(modes, {
      '/out': '0755',
      '/out/data.txt': '0644',
      '/out/run.sh': '0755',
      '/out/sub': '0755',
      '/out/sub/f': '0644',
    });
  });

  it('takes modeStr over mode, and rejects a bad one', async () => {
    const root = await fresh();
    await applyFileAction(
      copyOf('/d/data.txt', '/f', { mode: 0o600, modeStr: 'u+x', createDestPath: true }),
      {
        root,
        secondary: src,
      },
    );
    // data.txt is 0644 (umask), the octal 0600 is ignored.
    assert.equal((await lstat(join(root, 'f'))).mode & 0o7777, 0o744);
    await assert.rejects(
      applyFileAction(copyOf('/d', '/g', { modeStr: 'u+q', createDestPath: true }), { root, secondary: src }),
      InvalidFileActionError,
    );
  });

  it('replaces entries of another type only with alwaysReplaceExistingDestPaths', async () => {
    const setup = async (): Promise<string> => {
      const root = await fresh();
      await mkdir(join(root, 'out/run.sh'), { recursive: true });
      await writeFile(join(root, 'out/run.sh/inner'), 'old');
      await writeFile(join(root, 'out/sub'), 'a file where a dir comes');
      await symlink('/elsewhere', join(root, 'out/data.txt'));
      return root;
    };
    const contents = { dirCopyContents: true, createDestPath: true };
    const plain = await setup();
    await assert.rejects(
      applyFileAction(copyOf('/d', '/out', contents), { root: plain, secondary: src }),
      FileTypeConflictError,
    );

    const root = await setup();
    await applyFileAction(copyOf('/d', '/out', { ...contents, alwaysReplaceExistingDestPaths: true }), {
      root,
      secondary: src,
    });
    assert.equal(await readFile(join(root, 'out/run.sh'), 'utf8'), 'x');
    assert.ok((await lstat(join(root, 'out/sub'))).isDirectory());
    assert.equal(await readFile(join(root, 'out/sub/f'), 'utf8'), 'z');
    assert.ok((await lstat(join(root, 'out/data.txt'))).isFile());
  });

  it('creates symbolic links with owner and time, refusing to overwrite', async () => {
    const root = await fresh();
    await applyFileAction(
      symlinkOf('../target', '/lnk', { owner: ownerOf(12, 34), timestamp: 1_577_836_800_000_000_000n }),
      {
        root,
      },
    );
    const st = await lstat(join(root, 'lnk'));
    assert.equal(await readlink(join(root, 'lnk')), '../target');
    assert.deepEqual([st.uid, st.gid, st.mtimeMs], [12, 34, 1_577_836_800_000]);
    await writeFile(join(root, 'taken'), '');
    await assert.rejects(applyFileAction(symlinkOf('x', '/taken'), { root }), FileTypeConflictError);
    // As in BuildKit, newpath is resolved with links followed: an existing dangling link makes the
    // new link appear at its target.
    await applyFileAction(symlinkOf('y', '/lnk'), { root });
    assert.equal(await readlink(join(root, 'target')), 'y');
    await assert.rejects(
      applyFileAction(symlinkOf('x', '/no/such/dir/lnk'), { root }),
      FilePathNotFoundError,
    );
  });

  it('fails on a corrupt archive and detects zstd skippable frames', async () => {
    const root = await fresh();
    const dir = await mkdtemp(join(work, 'arch-'));
    const tar = await run('tar', ['-C', src, '-cf', '-', 'd'], { encoding: 'buffer', maxBuffer: 1 << 24 });
    const gz = gzipSync(tar.stdout);
    await writeFile(join(dir, 'cut.tar.gz'), gz.subarray(0, gz.length - 40));
    await assert.rejects(
      applyFileAction(
        copyOf('/cut.tar.gz', '/u/', { attemptUnpackDockerCompatibility: true, createDestPath: true }),
        {
          root,
          secondary: dir,
        },
      ),
      ArchiveError,
    );
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
    const { stdout } = await run('sh', ['-c', `tar -C "${src}" -cf - d | zstd -q -c`], {
      encoding: 'buffer',
      maxBuffer: 1 << 24,
    });
    await writeFile(join(dir, 'skip.zst'), Buffer.concat([skippable, stdout]));
    await applyFileAction(
      copyOf('/skip.zst', '/z/', { attemptUnpackDockerCompatibility: true, createDestPath: true }),
      {
        root,
        secondary: dir,
      },
    );
    assert.equal(await readFile(join(root, 'z/d/sub/f'), 'utf8'), 'z');
  });
});

describe('large trees', () => {
  let work = '';
  let src = '';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kiln-fileop-large-'));
    src = join(work, 'src');
    // 2,000 files in 40 directories, a few hardlinks, symlinks and odd modes.
    const script = [
      'for d in $(seq 1 40); do mkdir -p "$1/tree/d$d/s"; for f in $(seq 1 50); do',
      '  head -c $(( (d * 997 + f * 131) % 20000 )) /dev/urandom > "$1/tree/d$d/f$f"; done;',
      '  ln "$1/tree/d$d/f1" "$1/tree/d$d/s/hard"; ln -s ../f2 "$1/tree/d$d/s/soft"; chmod 4751 "$1/tree/d$d/f3";',
      '  chown 1000:1001 "$1/tree/d$d/f4"; touch -h -d @1234567890.123456 "$1/tree/d$d/s/soft"; done',
    ].join('\n');
    await run('sh', ['-c', script, 'sh', src]);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('copies like cp -a (content, modes, owners, links, hardlinks, mtimes)', async () => {
    const root = join(work, 'kiln');
    const ref = join(work, 'ref');
    await mkdir(root);
    await mkdir(ref);
    await run('cp', ['-a', join(src, 'tree'), join(ref, 'out')]);
    await applyFileAction(copyOf('/tree', '/out', { createDestPath: true }), { root, secondary: src });
    const [want, got] = await Promise.all([listTree(ref), listTree(root)]);
    assert.equal(got.length, 1 + 2000 + 40 * 2 + 40 + 40);
    assert.deepEqual(got, want);
    // Times to the microsecond: Node passes them to utimes as a double, so the last digit may round.
    const times = async (dir: string): Promise<Map<string, number>> => {
      const { stdout } = await run('sh', ['-c', `cd "${dir}" && find . -mindepth 1 -printf '%p %T@\\n'`], {
        maxBuffer: 1 << 24,
      });
      return new Map(
        stdout
          .trim()
          .split('\n')
          .map((l) => [l.split(' ')[0] as string, Number(l.split(' ')[1])]),
      );
    };
    const [ta, tb] = await Promise.all([times(ref), times(root)]);
    assert.equal(tb.size, ta.size);
    for (const [p, t] of ta) assert.ok(Math.abs((tb.get(p) ?? 0) - t) <= 2e-6, `${p}: ${tb.get(p)} vs ${t}`);
  });

  it('stops when aborted, leaving no work running', async () => {
    const root = await mkdtemp(join(work, 'abort-'));
    const controller = new AbortController();
    const pending = applyFileAction(copyOf('/tree', '/out', { createDestPath: true }), {
      root,
      secondary: src,
      signal: controller.signal,
    });
    setImmediate(() => controller.abort(new Error('client went away')));
    await assert.rejects(pending, FileActionCanceledError);
    const count = (await listTree(root)).length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await listTree(root)).length, count, 'nothing is written after the action settled');
    assert.ok(count < 2000);

    const aborted = AbortSignal.abort();
    await assert.rejects(
      applyFileAction(copyOf('/tree', '/again', { createDestPath: true }), {
        root,
        secondary: src,
        signal: aborted,
      }),
      FileActionCanceledError,
    );
  });
});
