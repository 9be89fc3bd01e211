import type { Mount } from './mount.js';

/**
 * mount(2) takes its options as one page; overlayfs reads `lowerdir=` from it, so a long parent
 * chain does not fit. Kiln keeps paths short (`<root>/<base36 id>/fs`) and, when a chain still
 * overflows, replaces its lower part by a flattened copy of one ancestor (`<root>/<id>/flat`, the
 * merged view of that ancestor's whole chain). Ancestors are only flattened at depths that are a
 * multiple of `grid`, so a growing chain flattens once every `grid` layers, not at every step.
 */
export interface ChainLink {
  readonly id: number;
  readonly depth: number;
  readonly flat: boolean;
}

export type LowerPlan = { readonly dirs: string[] } | { readonly flatten: ChainLink };

/** Options every overlay mount carries: deterministic upper dirs whatever the kernel's defaults. */
export const overlayFeatureOptions: readonly string[] = ['index=off', 'redirect_dir=off', 'metacopy=off'];

/** The page mount(2) copies options from, less the terminating NUL. */
export const mountOptionLimit = 4095;

export function overlayMount(lowers: readonly string[], upper?: { upper: string; work: string }): Mount {
  const options = [`lowerdir=${lowers.join(':')}`];
  if (upper) options.push(`upperdir=${upper.upper}`, `workdir=${upper.work}`);
  else options.push('ro');
  return { type: 'overlay', source: 'overlay', options: [...options, ...overlayFeatureOptions] };
}

export function bindMount(dir: string, readonly: boolean): Mount {
  return { type: 'bind', source: dir, options: ['rbind', readonly ? 'ro' : 'rw'] };
}

/**
 * Chooses the lower directories for `chain` (nearest first), or the ancestor to flatten first.
 * With `excludeTop` the top link's own flat copy is neither used nor chosen (it is the one being made).
 */
export function planLowers(
  chain: readonly ChainLink[],
  options: {
    readonly budget: number;
    readonly grid: number;
    readonly excludeTop: boolean;
    fsDir(link: ChainLink): string;
    flatDir(link: ChainLink): string;
  },
): LowerPlan {
  const usesFlat = (link: ChainLink, i: number): boolean => link.flat && !(options.excludeTop && i === 0);
  const dirs: string[] = [];
  for (const [i, link] of chain.entries()) {
    if (usesFlat(link, i)) {
      dirs.push(options.flatDir(link));
      break;
    }
    dirs.push(options.fsDir(link));
  }
  if (dirs.join(':').length <= options.budget) return { dirs };
  const first = options.excludeTop ? 1 : 0;
  let used = 0;
  for (let i = 0; i < chain.length; i++) {
    const link = chain[i] as ChainLink;
    if (
      i >= first &&
      link.depth % options.grid === 0 &&
      used + options.flatDir(link).length <= options.budget
    ) {
      return { flatten: link };
    }
    used += options.fsDir(link).length + 1;
    if (used > options.budget) break;
  }
  return { flatten: chain[first] as ChainLink };
}
