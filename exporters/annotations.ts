import { formatPlatform, parsePlatform, type Platform } from '../oci/index.js';
import { ExporterRequestError } from './errors.js';

/** Annotations for one image: on the index, its descriptor, the manifest, the manifest's descriptor. */
export interface Annotations {
  readonly index: Readonly<Record<string, string>>;
  readonly indexDescriptor: Readonly<Record<string, string>>;
  readonly manifest: Readonly<Record<string, string>>;
  readonly manifestDescriptor: Readonly<Record<string, string>>;
}

type Kind = keyof Annotations;
type Mutable = { [K in Kind]: Record<string, string> };

const keyPattern = /^annotation(?:-([a-z-]+))?(?:\[([A-Za-z0-9_/-]+)\])?\.(\S+)$/;
const kinds: Readonly<Record<string, Kind>> = {
  '': 'manifest',
  manifest: 'manifest',
  'manifest-descriptor': 'manifestDescriptor',
  index: 'index',
  'index-descriptor': 'indexDescriptor',
};

const empty = (): Mutable => ({ index: {}, indexDescriptor: {}, manifest: {}, manifestDescriptor: {} });

/**
 * The `annotation[-kind][[platform]].key=value` attributes of an output (and of the frontend's
 * metadata), grouped by platform ('' for all platforms). Index annotations apply to every
 * platform; manifest annotations to their platform or, without one, to every manifest.
 */
export class AnnotationSet {
  readonly #groups = new Map<string, Mutable>();

  /** Adds every annotation key of `entries`; other keys are ignored. Throws ExporterRequestError. */
  add(entries: Iterable<readonly [string, string]>): this {
    for (const [key, value] of entries) {
      const match = keyPattern.exec(key);
      if (!match) continue;
      const [, type = '', platform = '', name = ''] = match;
      const kind = kinds[type];
      if (!kind) {
        throw new ExporterRequestError(`unrecognized annotation type ${JSON.stringify(type)} in ${key}`, {
          attribute: key,
        });
      }
      let group = '';
      if (platform) {
        try {
          group = formatPlatform(parsePlatform(platform));
        } catch (cause) {
          throw new ExporterRequestError(`invalid platform in annotation ${key}`, { attribute: key, cause });
        }
      }
      let target = this.#groups.get(group);
      if (!target) {
        target = empty();
        this.#groups.set(group, target);
      }
      target[kind][name] = value;
    }
    return this;
  }

  /** Platform IDs named by `[platform]` forms. */
  platforms(): string[] {
    return [...this.#groups.keys()].filter((p) => p !== '');
  }

  /** Whether any annotation needs OCI media types (Docker manifests carry only manifest annotations). */
  needsOci(): boolean {
    for (const g of this.#groups.values()) {
      if (Object.keys(g.index).length + Object.keys(g.indexDescriptor).length > 0) return true;
      if (Object.keys(g.manifestDescriptor).length > 0) return true;
    }
    return false;
  }

  /** The annotations for one platform's manifest (and the index), or for a single image. */
  forPlatform(platform?: Platform): Annotations {
    const out = empty();
    for (const g of this.#groups.values()) {
      Object.assign(out.index, g.index);
      Object.assign(out.indexDescriptor, g.indexDescriptor);
    }
    for (const id of platform ? ['', formatPlatform(platform)] : ['']) {
      const g = this.#groups.get(id);
      if (!g) continue;
      Object.assign(out.manifest, g.manifest);
      Object.assign(out.manifestDescriptor, g.manifestDescriptor);
    }
    return out;
  }
}
