import { randomBytes } from 'node:crypto';
import {
  type CopyOptions,
  type FileAction,
  type State,
  copy,
  git,
  http,
  merge,
  mkfile,
  scratch,
} from '../../../llb/index.js';
import { isDigest } from '../../../oci/index.js';
import type { AddInstruction, CopyInstruction } from '../instructions/types.js';
import type { PlannedStep } from '../plan.js';
import { displayCommand } from '../progress-name.js';
import { type StageState, stateEnv } from '../stage-state.js';
import { gitCheckout, parseGitRef } from './git-ref.js';
import { goJoin, isAbs } from './go-path.js';
import {
  type ConvertContext,
  type StageBuild,
  commandDescription,
  locationOf,
  stepName,
} from './stage-build.js';

export function isHttpSource(src: string): boolean {
  return src.startsWith('http://') || src.startsWith('https://');
}

/** The file name an ADD of a URL writes: the URL path's last element, else `__unnamed__`. */
function urlFilename(src: string): string {
  try {
    const path = decodeURIComponent(new URL(src).pathname);
    const base = path.replace(/\/+$/, '').split('/').pop() ?? '';
    return base === '' || base === '.' ? '__unnamed__' : base;
  } catch {
    return '__unnamed__';
  }
}

/** `--chmod` as BuildKit v0.11.6 reads it: an octal number, anything else ignored. */
function parseChmod(chmod: string | undefined): number | undefined {
  if (chmod === undefined || !/^[0-7]+$/.test(chmod)) return undefined;
  const mode = parseInt(chmod, 8);
  return mode <= 0xffffffff ? mode : undefined;
}

/** `--parents`: the part before `/./` is the copy root, the rest a pattern kept with its parents. */
function parentsSplit(src: string): { src: string; pattern: string } {
  const pivot = src.indexOf('/./');
  if (pivot < 0) return { src: '/', pattern: goJoin('/', src).replace(/^\//, '') };
  return { src: src.slice(0, pivot), pattern: goJoin('/', src.slice(pivot + 3)).replace(/^\//, '') };
}

// 25 base-36 characters, like BuildKit's identity.NewID (progress group ids).
function newId(): string {
  return BigInt(`0x${randomBytes(17).toString('hex')}`)
    .toString(36)
    .padStart(25, '0')
    .slice(-25);
}

function checkChecksum(i: AddInstruction): void {
  if (!i.checksum) return;
  if (!isDigest(i.checksum)) throw new Error('invalid checksum digest format');
  if (i.sources.length !== 1) throw new Error("checksum can't be specified for multiple sources");
  if (!isHttpSource(i.sources[0]!)) throw new Error("checksum can't be specified for non-HTTP sources");
}

/**
 * Converts COPY or ADD into one FileOp of copy actions (sources in order, then heredocs), with
 * BuildKit's copy attributes; ADD also takes URLs (an http source) and git repositories. With
 * `--link` (and no `--chmod`) the copy goes onto scratch and is merged over the stage (MergeOp),
 * so the layer does not depend on what is below it.
 */
export function dispatchCopy(
  ctx: ConvertContext,
  build: StageBuild,
  step: PlannedStep,
  before: StageState,
): void {
  const i = step.instruction as CopyInstruction | AddInstruction;
  const isAdd = i.kind === 'add';
  if (isAdd) checkChecksum(i);
  const dest =
    goJoin('/', isAbs(i.dest) ? i.dest : goJoin(build.state.getDir(), i.dest)) +
    (i.dest === '.' || i.dest === '' || i.dest.endsWith('/') ? '/' : '');
  const mode = parseChmod(i.chmod);
  const common: CopyOptions = {
    ...(mode !== undefined ? { mode } : {}),
    createDestPath: true,
    ...(i.chown ? { owner: i.chown } : {}),
    ...(i.excludes.length > 0 ? { excludePatterns: i.excludes } : {}),
  };
  const source =
    i.kind === 'copy' && i.from !== undefined
      ? ctx.sourceState(i.from, { allowIndex: true, location: i.location })
      : ctx.buildContext;

  let action: FileAction | undefined;
  const add = (from: State, src: string, options: CopyOptions): void => {
    action = action ? action.copy(from, src, dest, options) : copy(from, src, dest, options);
  };
  for (const src of i.sources) {
    const gitRef = parseGitRef(src);
    if (gitRef && !gitRef.indistinguishableFromLocal) {
      if (!isAdd) throw new Error("source can't be a git ref for COPY");
      add(git(gitRef.remote, gitCheckout(gitRef), i.keepGitDir ? { keepGitDir: true } : {}), '/', common);
    } else if (isHttpSource(src)) {
      if (!isAdd) throw new Error("source can't be a URL for COPY");
      const filename = urlFilename(src);
      const st = http(src, {
        filename,
        ...(isAdd && i.checksum ? { checksum: i.checksum } : {}),
        description: commandDescription(''),
      });
      add(st, filename, common);
    } else {
      let path = src;
      let include: string[] = [];
      if (i.kind === 'copy' && i.parents) {
        const split = parentsSplit(src);
        path = split.src;
        include = [split.pattern];
      }
      add(source, goJoin('/', path), {
        ...common,
        followSymlinks: true,
        copyDirContentsOnly: true,
        ...(include.length > 0 ? { includePatterns: include } : {}),
        attemptUnpack: isAdd,
        allowWildcard: true,
        allowEmptyWildcard: true,
      });
    }
  }
  for (const content of i.contents) {
    const st = scratch().file(mkfile(content.path, 0o664, content.data), {
      customName: '[internal] preparing inline document',
    });
    add(st, content.path, common);
  }
  if (!action) throw new Error(`${i.keyword.toUpperCase()} requires at least one source`);

  const env = stateEnv(before);
  const platform = build.plan.platform;
  const name = displayCommand(i.code, { lexer: ctx.lexer, env, run: false });
  const customName = stepName(ctx, build, name, platform, env);
  if (i.link && !i.chmod && ctx.opts.caps.has('mergeop')) {
    const id = newId();
    build.index--;
    const linkName = stepName(ctx, build, `LINK ${name}`, platform, env);
    const layer = scratch().file(action, { progressGroup: { id, name: customName, weak: true } });
    const merged = merge([build.state, layer], {
      progressGroup: { id, name: customName, weak: false },
      customName: linkName,
    });
    build.state = build.state.withOutput(merged.output);
    return;
  }
  build.state = build.state.file(action, {
    customName,
    sourceLocations: locationOf(ctx, i.location),
    ...(build.ignoreCache ? { ignoreCache: true } : {}),
  });
}
