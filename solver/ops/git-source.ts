import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sha256 } from '../../oci/index.js';
import type { LocalSnapshotter } from '../../snapshotter/index.js';
import { getSecret, type SessionManager } from '../../session/index.js';
import { SolveRequestError } from '../errors.js';
import { newId } from '../job.js';
import type { LlbOpView } from '../llb-view.js';
import type { CacheMap, OpContext, ResultRef, SolverOp } from '../op.js';

const run = promisify(execFile);

interface GitRef {
  readonly url: string;
  readonly ref: string;
  readonly subdir: string;
}

/** `git://host/path#ref:subdir` with `git.fullurl` giving the real URL (scheme included). */
function parseIdentifier(identifier: string, attrs: Readonly<Record<string, string>>): GitRef {
  const rest = identifier.slice('git://'.length);
  const hash = rest.indexOf('#');
  const remote = hash < 0 ? rest : rest.slice(0, hash);
  const fragment = hash < 0 ? '' : rest.slice(hash + 1);
  const colon = fragment.indexOf(':');
  return {
    url: attrs['git.fullurl'] || `https://${remote}`,
    ref: (colon < 0 ? fragment : fragment.slice(0, colon)) || 'HEAD',
    subdir: colon < 0 ? '' : fragment.slice(colon + 1).replace(/^\/+|\/+$/g, ''),
  };
}

/**
 * A git source: the ref is resolved to a commit with the host's git (the cache key), then the
 * commit is checked out into a new snapshot (`.git` kept only with `git.keepgitdir`).
 */
export class GitSourceOp implements SolverOp {
  readonly outputs = 1;
  readonly recordType = 'source.git.checkout';
  readonly #git: GitRef;
  readonly #attrs: Readonly<Record<string, string>>;
  #commit: string | undefined;

  constructor(
    view: LlbOpView,
    private readonly deps: { snapshotter: LocalSnapshotter; sessions: SessionManager },
  ) {
    if (view.op.op.case !== 'source') throw new Error('not a source op');
    this.#attrs = view.op.op.value.attrs;
    this.#git = parseIdentifier(view.op.op.value.identifier, this.#attrs);
  }

  async cacheMap(ctx: OpContext): Promise<CacheMap> {
    const { ref, subdir } = this.#git;
    this.#commit = /^[0-9a-f]{40}$/.test(ref) ? ref : await this.#resolve(ctx);
    const keep = this.#attrs['git.keepgitdir'] === 'true';
    return { digest: sha256(JSON.stringify(['git', this.#commit, subdir, keep])), deps: [] };
  }

  async exec(ctx: OpContext): Promise<readonly ResultRef[]> {
    const { snapshotter } = this.deps;
    const key = `git-active-${newId()}`;
    await snapshotter.prepare(key);
    try {
      const dest = (await snapshotter.writableLayer(key)).dir;
      await this.#checkout(ctx, dest);
      const name = `git-${newId()}`;
      await snapshotter.commit(name, key);
      return [{ snapshot: name }];
    } catch (err) {
      await snapshotter.remove(key).catch(() => undefined);
      throw err;
    }
  }

  async #gitArgs(ctx: OpContext): Promise<string[]> {
    const id = this.#attrs['git.authtokensecret'] || 'GIT_AUTH_TOKEN';
    for (const sessionId of ctx.sessionIds()) {
      const session = await this.deps.sessions.get(sessionId, { timeoutMs: 1000 }).catch(() => undefined);
      const token = session ? await getSecret(session, id).catch(() => undefined) : undefined;
      if (token) {
        const basic = Buffer.from(`x-access-token:${Buffer.from(token).toString()}`).toString('base64');
        return ['-c', `http.extraheader=Authorization: basic ${basic}`];
      }
    }
    return [];
  }

  async #run(ctx: OpContext, args: string[], cwd?: string): Promise<string> {
    try {
      const { stdout } = await run('git', [...(await this.#gitArgs(ctx)), ...args], {
        ...(cwd ? { cwd } : {}),
        signal: ctx.signal,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    } catch (cause) {
      const stderr = (cause as { stderr?: string }).stderr?.trim();
      throw new SolveRequestError(
        `git ${args[0]} ${this.#git.url} failed: ${stderr || (cause as Error).message}`,
        'unavailable',
        {
          cause,
        },
      );
    }
  }

  async #resolve(ctx: OpContext): Promise<string> {
    const { url, ref } = this.#git;
    const out = await this.#run(ctx, ['ls-remote', url, ref, `refs/tags/${ref}^{}`]);
    const lines = out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t') as [string, string]);
    const peeled = lines.find(([, name]) => name.endsWith('^{}'));
    const found = peeled ?? lines[0];
    if (!found) throw new SolveRequestError(`git ref ${ref} not found in ${url}`, 'not-found');
    return found[0];
  }

  async #checkout(ctx: OpContext, dest: string): Promise<void> {
    const { url, subdir } = this.#git;
    const work = subdir ? await mkdtemp(join(dest, '.git-checkout-')) : dest;
    await this.#run(ctx, ['init', '-q', work]);
    await this.#run(ctx, ['-C', work, 'fetch', '-q', '--depth=1', url, this.#commit!]);
    await this.#run(ctx, ['-C', work, 'checkout', '-q', 'FETCH_HEAD']);
    await this.#run(ctx, ['-C', work, 'submodule', 'update', '-q', '--init', '--recursive', '--depth=1']);
    if (this.#attrs['git.keepgitdir'] !== 'true')
      await rm(join(work, '.git'), { recursive: true, force: true });
    if (subdir) {
      const source = join(work, subdir);
      for (const name of await readdir(source)) await rename(join(source, name), join(dest, name));
      await rm(work, { recursive: true, force: true });
    }
  }
}
