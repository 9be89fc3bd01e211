import type { FileActionCopy, FileOp } from '../../proto/gen/pb/ops_pb.js';
import { ownerInputs } from './owner.js';
import { hasWildcards } from './wildcard.js';

/**
 * The part of an input a FileOp depends on, for a content-based cache key (shape of the solver's
 * `Selector`): the content checksum of `path` (links followed when `followLinks`; a glob when
 * `wildcard`), narrowed by the patterns.
 */
export interface ContentSelector {
  readonly path: string;
  readonly followLinks: boolean;
  readonly wildcard: boolean;
  readonly includePatterns: readonly string[];
  readonly excludePatterns: readonly string[];
}

/** The selector a copy puts on its source (secondary) input, as BuildKit's FileOp CacheMap builds it. */
export function copySelectors(copy: FileActionCopy): ContentSelector[] {
  return [
    {
      path: copy.src,
      followLinks: copy.followSymlink,
      wildcard: copy.allowWildcard && hasWildcards(copy.src),
      includePatterns: [...copy.includePatterns],
      excludePatterns: [...copy.excludePatterns],
    },
  ];
}

/** Per input of a FileOp: the selectors its cache key uses, and their digest input. */
export interface InputSelectors {
  /** Deduplicated and sorted as BuildKit's dedupeSelectors does; what to checksum. */
  readonly selectors: readonly ContentSelector[];
  /**
   * What BuildKit hashes into the dependency's selector digest: every selector path (duplicates
   * included), sorted in descending byte order, joined with NUL. sha256 of it is the digest.
   */
  readonly digestInput: Buffer;
}

/**
 * The content-based dependencies of a FileOp with `numInputs` inputs, as BuildKit's FileOp
 * CacheMap decides them: copy sources and the `/etc/passwd` / `/etc/group` of inputs that name
 * owners give selectors; an input that is the base of any action gets none (its whole cache key
 * counts). Inputs absent from the map have no selectors.
 */
export function fileOpSelectors(op: FileOp, numInputs: number): Map<number, InputSelectors> {
  const raw = new Map<number, ContentSelector[]>();
  const invalid = new Set<number>();
  const add = (input: number, sel: ContentSelector): void => {
    if (input < 0 || input >= numInputs) return;
    const list = raw.get(input) ?? [];
    list.push(sel);
    raw.set(input, list);
  };
  const addOwner = (chown: Parameters<typeof ownerInputs>[0]): void => {
    for (const { input, path } of ownerInputs(chown)) {
      add(input, { path, followLinks: true, wildcard: false, includePatterns: [], excludePatterns: [] });
    }
  };
  for (const action of op.actions) {
    invalid.add(Number(action.input));
    const a = action.action;
    if (a.case === 'mkdir' || a.case === 'mkfile') addOwner(a.value.owner);
    else if (a.case === 'copy') {
      addOwner(a.value.owner);
      const secondary = Number(action.secondaryInput);
      if (secondary !== -1) for (const sel of copySelectors(a.value)) add(secondary, sel);
    }
  }
  const out = new Map<number, InputSelectors>();
  for (const [input, list] of raw) {
    if (invalid.has(input)) continue;
    const paths = list.map((s) => Buffer.from(s.path)).sort((a, b) => Buffer.compare(b, a));
    out.set(input, { selectors: dedupe(list), digestInput: Buffer.concat(joinNul(paths)) });
  }
  return out;
}

function joinNul(parts: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(Buffer.from([0]));
    out.push(p);
  });
  return out;
}

function filtered(s: ContentSelector): boolean {
  return s.wildcard || s.includePatterns.length > 0 || s.excludePatterns.length > 0;
}

/** Plain paths lose those under another plain path; selectors with globs or patterns stay as given. */
function dedupe(list: readonly ContentSelector[]): ContentSelector[] {
  const plain = (follow: boolean): ContentSelector[] => {
    const paths = [
      ...new Set(list.filter((s) => !filtered(s) && s.followLinks === follow).map((s) => s.path)),
    ];
    return paths
      .filter((p1) => !paths.some((p2) => p1 !== p2 && p1.startsWith(`${p2}/`)))
      .sort(byteOrder)
      .map((path) => ({
        path,
        followLinks: follow,
        wildcard: false,
        includePatterns: [],
        excludePatterns: [],
      }));
  };
  const out = [...plain(false), ...plain(true), ...list.filter(filtered)];
  // A stable sort by path, as Go's sort.Slice is not stable but the inputs are already ordered.
  return out.sort((a, b) => byteOrder(a.path, b.path));
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
