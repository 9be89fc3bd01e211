/** A git source named by an ADD source, a build context or a named context. */
export interface GitRef {
  /** The repository URL without the fragment (`https://github.com/moby/buildkit.git`). */
  readonly remote: string;
  /** Branch, tag or commit from the fragment; '' for the default branch. */
  readonly commit: string;
  /** Directory inside the repository (`#ref:subdir`); '' for the root. */
  readonly subDir: string;
  /**
   * `github.com/owner/repo` without a scheme: a git ref only where a context is expected, a local
   * path everywhere else (ADD treats it as a file).
   */
  readonly indistinguishableFromLocal: boolean;
}

const implicitSsh = /^[a-zA-Z0-9\-_]+@[a-zA-Z0-9\-.]+:.*$/;
const gitSuffix = /\.git(?:#.+)?$/;

/**
 * BuildKit's rule for telling git references from other strings: `git://`, `ssh://`,
 * `user@host:path`, and `http(s)://…` URLs whose path ends in `.git` (fragment allowed); plus the
 * deprecated bare `github.com/…`. Returns undefined for anything else.
 */
export function parseGitRef(ref: string): GitRef | undefined {
  let indistinguishableFromLocal = false;
  if (ref.startsWith('github.com/')) {
    indistinguishableFromLocal = true;
  } else {
    const scheme = /^(https?|git|ssh):\/\//.exec(ref)?.[1];
    if (scheme === undefined && !implicitSsh.test(ref)) return undefined;
    if ((scheme === 'http' || scheme === 'https') && !gitSuffix.test(ref)) return undefined;
  }
  const hash = ref.indexOf('#');
  const remote = hash < 0 ? ref : ref.slice(0, hash);
  if (remote === '') return undefined;
  const fragment = hash < 0 ? '' : ref.slice(hash + 1);
  const colon = fragment.indexOf(':');
  return {
    remote,
    commit: colon < 0 ? fragment : fragment.slice(0, colon),
    subDir: colon < 0 ? '' : fragment.slice(colon + 1),
    indistinguishableFromLocal,
  };
}

/** The ref given to the LLB git source: the commit, with `:subdir` when there is one. */
export function gitCheckout(ref: GitRef): string {
  return ref.subDir ? `${ref.commit}:${ref.subDir}` : ref.commit;
}
