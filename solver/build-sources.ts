import { fromBinary } from '@bufbuild/protobuf';
import {
  formatReference,
  parseReference,
  platformEquals,
  type Digest,
  type ImageReference,
  type Platform,
} from '../oci/index.js';
import { MountType, OpSchema, type Definition, type Op } from '../proto/gen/pb/ops_pb.js';
import { fromPbPlatform } from './gateway-frontend/conversions.js';

/** An image a build used: the reference as written, the platform asked for, the digest it resolved to. */
export interface ImageSource {
  readonly ref: string;
  readonly platform?: Platform;
  readonly digest: Digest;
}

/** A secret or SSH agent a step mounted. */
export interface MountedSecret {
  readonly id: string;
  readonly optional: boolean;
}

/**
 * What a result was built from, as BuildKit's provenance records it (`materials`, the `locals`,
 * `secrets` and `ssh` parameters, and the build info's `sources`): each list deduplicated and
 * sorted as BuildKit sorts it.
 */
export interface BuildSources {
  readonly images: readonly ImageSource[];
  readonly locals: readonly string[];
  readonly secrets: readonly MountedSecret[];
  readonly ssh: readonly MountedSecret[];
}

const byKey =
  <T>(key: (t: T) => string) =>
  (a: T, b: T): number =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

function samePlatform(a: Platform | undefined, b: Platform | undefined): boolean {
  return a === undefined || b === undefined ? a === b : platformEquals(a, b);
}

/** `name:tag` of a reference (tag `latest` when it names none), as BuildKit compares image sources. */
function nameTag(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}:${ref.tag ?? 'latest'}`;
}

/** Ops of a definition, decoded once however many results' sources read it. */
const decodedOps = new WeakMap<Definition, Op[]>();

function decoded(definition: Definition): Op[] {
  let ops = decodedOps.get(definition);
  if (!ops) {
    ops = definition.def.map((bytes) => fromBinary(OpSchema, bytes));
    decodedOps.set(definition, ops);
  }
  return ops;
}

/** Collects the sources of one result; `sources()` gives them in BuildKit's order. */
export class SourceCapture {
  readonly #images: ImageSource[] = [];
  readonly #locals = new Set<string>();
  readonly #secrets = new Map<string, MountedSecret>();
  readonly #ssh = new Map<string, MountedSecret>();

  /** The image, local and mount sources of every op in `definition`. */
  addDefinition(definition: Definition): void {
    for (const op of decoded(definition)) {
      if (op.op.case === 'source') {
        const id = op.op.value.identifier;
        if (id.startsWith('docker-image://')) {
          const ref = parseReference(id.slice('docker-image://'.length));
          // A reference without a digest is recorded through the frontend's resolution of it.
          if (ref.digest) {
            const platform = fromPbPlatform(op.platform);
            this.addImage({
              ref: formatReference(ref),
              ...(platform ? { platform } : {}),
              digest: ref.digest,
            });
          }
        } else if (id.startsWith('local://')) {
          this.#locals.add(id.slice('local://'.length));
        }
      } else if (op.op.case === 'exec') {
        for (const env of op.op.value.secretenv) {
          this.#secrets.set(env.ID, { id: env.ID, optional: env.optional });
        }
        for (const mount of op.op.value.mounts) {
          if (mount.mountType === MountType.SECRET && mount.secretOpt) {
            this.#secrets.set(mount.secretOpt.ID, {
              id: mount.secretOpt.ID,
              optional: mount.secretOpt.optional,
            });
          } else if (mount.mountType === MountType.SSH && mount.SSHOpt) {
            this.#ssh.set(mount.SSHOpt.ID, { id: mount.SSHOpt.ID, optional: mount.SSHOpt.optional });
          }
        }
      }
    }
  }

  /** Adds an image unless one with the same reference and platform is there already. */
  addImage(image: ImageSource): void {
    if (this.#images.some((i) => i.ref === image.ref && samePlatform(i.platform, image.platform))) return;
    this.#images.push(image);
  }

  sources(): BuildSources {
    // A digest-pinned reference goes when the same name:tag is there unpinned (BuildKit keeps
    // the form the user wrote, which the frontend resolved).
    const unpinned = new Set(
      this.#images
        .map((i) => parseReference(i.ref))
        .filter((r) => !r.digest)
        .map(nameTag),
    );
    const images = this.#images.filter((i) => {
      const ref = parseReference(i.ref);
      return !ref.digest || !unpinned.has(nameTag(ref));
    });
    return {
      images: images.sort(byKey((i) => i.ref)),
      locals: [...this.#locals].sort(),
      secrets: [...this.#secrets.values()].sort(byKey((s) => s.id)),
      ssh: [...this.#ssh.values()].sort(byKey((s) => s.id)),
    };
  }
}

/**
 * Images the frontend resolved, for the result of one platform of a multi-platform build: an image
 * resolved for every platform of the build is kept only in its own platform's version; others
 * are kept whatever their platform (BuildKit's rule).
 */
export function imagesForPlatform(
  resolved: readonly ImageSource[],
  buildPlatforms: readonly Platform[],
  current: Platform | undefined,
): ImageSource[] {
  if (buildPlatforms.length === 0 || current === undefined) return [...resolved];
  const everyPlatform = new Set(
    resolved
      .map((i) => i.ref)
      .filter((ref) =>
        buildPlatforms.every((p) =>
          resolved.some(
            (i) => i.ref === ref && i.platform && samePlatform(normalized(i.platform), normalized(p)),
          ),
        ),
      ),
  );
  return resolved.filter(
    (i) =>
      !everyPlatform.has(i.ref) ||
      (i.platform !== undefined && samePlatform(normalized(i.platform), normalized(current))),
  );
}

/** Variants matched loosely, as containerd's default matcher does for amd64 and arm64. */
function normalized(p: Platform): Platform {
  return { os: p.os, architecture: p.architecture };
}
