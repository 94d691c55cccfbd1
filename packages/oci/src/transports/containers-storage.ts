import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { createLimiter } from '../copy/limit.js';
import { SkiffError } from '../errors.js';
import { type ImageRef, parseReference, withDefaultTag } from '../reference/reference.js';
import { chainIdOf, type Digest } from '../spec/digest.js';
import { parseImageConfig, parseManifest } from '../spec/manifest.js';
import type { StorageDriver, StoreLocationOptions } from '../storage/config.js';
import { STORAGE_DRIVERS } from '../storage/config.js';
import type { ImageInfo, Store } from '../storage/store.js';

/**
 * The store (SQLite's native addon, the layer code) loads when a containers-storage: image is
 * opened, not when the transport is registered: every ferry command registers it.
 */
async function openStore(
  options: Parameters<typeof import('../storage/store.js').openStore>[0],
): Promise<Store> {
  return (await import('../storage/store.js')).openStore(options);
}

import type {
  BlobStream,
  Descriptor,
  DestinationCapabilities,
  ImageDestination,
  ImageReference,
  ImageSource,
  PutBlobInfo,
  RawManifest,
  Transport,
} from './types.js';

/**
 * `containers-storage:[[driver@]root[+runroot][:options]]{IMAGE-ID|REFERENCE[@IMAGE-ID]}` — the
 * local store, as skopeo spells it. Without a specifier the default store (storage.conf, root
 * or rootless paths). REFERENCE is normalised as `docker://` does (docker.io/library/…,
 * `:latest` when neither tag nor digest is given); that string is the image's name in the store.
 *
 * A source serves the manifest and the blobs exactly as they were stored (compressed layers
 * are kept by digest), so an image copied out keeps its digests. A destination stores blobs as
 * they come, unpacks the layers when the manifest arrives, and registers the image with its
 * name in one transaction at commit.
 */

export interface StorageTarget {
  store: StoreLocationOptions;
  /** The normalised reference, when one was given. */
  ref?: ImageRef;
  /** A full image ID (64 hex), when one was given. */
  imageId?: string;
  /** Whether a [specifier] was written (kept for toString). */
  specifier?: string;
}

const HEX64 = /^[a-f0-9]{64}$/;
/** Layers unpacked at once with overlay (the machine has few cores; tar parsing is on the main thread). */
const UNPACK_CONCURRENCY = 3;

export function parseStorageDetails(details: string, defaults: StoreLocationOptions = {}): StorageTarget {
  let rest = details;
  const store: StoreLocationOptions = { ...defaults };
  let specifier: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) {
      throw new SkiffError(
        'INVALID_REFERENCE',
        `invalid containers-storage: reference "${details}": missing "]"`,
      );
    }
    specifier = rest.slice(1, close);
    rest = rest.slice(close + 1);
    let spec = specifier;
    const at = spec.indexOf('@');
    if (at >= 0) {
      const driver = spec.slice(0, at);
      if (!STORAGE_DRIVERS.includes(driver as StorageDriver)) {
        throw new SkiffError(
          'INVALID_REFERENCE',
          `invalid containers-storage: reference "${details}": unsupported driver "${driver}"`,
          {
            hint: `use one of: ${STORAGE_DRIVERS.join(', ')}`,
          },
        );
      }
      store.driver = driver as StorageDriver;
      spec = spec.slice(at + 1);
    }
    const colon = spec.indexOf(':');
    if (colon >= 0) spec = spec.slice(0, colon); // driver options: none are supported, ignored
    const plus = spec.indexOf('+');
    const root = plus >= 0 ? spec.slice(0, plus) : spec;
    if (!path.isAbsolute(root)) {
      throw new SkiffError(
        'INVALID_REFERENCE',
        `invalid containers-storage: reference "${details}": the store root must be an absolute path`,
      );
    }
    store.root = root;
    if (plus >= 0) {
      const runroot = spec.slice(plus + 1);
      if (!path.isAbsolute(runroot)) {
        throw new SkiffError(
          'INVALID_REFERENCE',
          `invalid containers-storage: reference "${details}": the run root must be an absolute path`,
        );
      }
      store.runroot = runroot;
    }
  }
  const target: StorageTarget = { store };
  if (specifier !== undefined) target.specifier = specifier;
  if (rest === '') {
    throw new SkiffError(
      'INVALID_REFERENCE',
      `invalid containers-storage: reference "${details}": no image named`,
    );
  }
  if (HEX64.test(rest)) {
    target.imageId = rest;
    return target;
  }
  const atId = /@([a-f0-9]{64})$/.exec(rest);
  if (atId) {
    target.imageId = atId[1]!;
    rest = rest.slice(0, atId.index);
  }
  try {
    target.ref = withDefaultTag(parseReference(rest));
  } catch (err) {
    throw new SkiffError(
      'INVALID_REFERENCE',
      `invalid containers-storage: reference "${details}": ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return target;
}

class StorageReference implements ImageReference {
  readonly transport = 'containers-storage';

  /**
   * `shared`: an open store that sources and destinations use instead of opening their own
   * (and leave open: its owner closes it).
   */
  constructor(
    readonly target: StorageTarget,
    private readonly shared?: Store,
  ) {}

  private async open(): Promise<{ store: Store; owned: boolean }> {
    if (this.shared) return { store: this.shared, owned: false };
    return { store: await openStore(this.target.store), owned: true };
  }

  get withinTransport(): string {
    const spec = this.target.specifier !== undefined ? `[${this.target.specifier}]` : '';
    const ref = this.target.ref ? this.target.ref.toString() : '';
    const id = this.target.imageId ? (ref ? `@${this.target.imageId}` : this.target.imageId) : '';
    return `${spec}${ref}${id}`;
  }

  toString(): string {
    return `containers-storage:${this.withinTransport}`;
  }

  async newSource(): Promise<ImageSource> {
    const { store, owned } = await this.open();
    try {
      const image = this.findImage(store);
      return new StorageSource(this, store, image, owned);
    } catch (err) {
      if (owned) store.close();
      throw err;
    }
  }

  async newDestination(): Promise<ImageDestination> {
    if (!this.target.ref) {
      throw new SkiffError('INVALID_REFERENCE', `${this}: a destination needs a name, not only an image ID`);
    }
    const { store, owned } = await this.open();
    return new StorageDestination(this, store, owned);
  }

  async deleteImage(): Promise<void> {
    const { store, owned } = await this.open();
    try {
      const image = this.findImage(store);
      store.removeImage(image.id);
    } finally {
      if (owned) store.close();
    }
  }

  findImage(store: Store): ImageInfo {
    const { ref, imageId } = this.target;
    let image: ImageInfo | undefined;
    if (imageId) {
      image = store.getImage(imageId);
      if (image && ref && ref.tag !== undefined && !image.names.includes(ref.toString())) image = undefined;
    } else if (ref?.digest) {
      const named = store.getImage(ref.toString());
      image =
        named ??
        store
          .listImages()
          .find(
            (i) =>
              i.manifestDigest === ref.digest &&
              i.names.some((n) => n.startsWith(`${ref.name}:`) || n.startsWith(`${ref.name}@`)),
          );
    } else if (ref) {
      image = store.getImage(ref.toString());
    }
    if (!image) {
      throw new SkiffError('NOT_FOUND', `${this}: no such image in the store at ${store.location.root}`);
    }
    return image;
  }
}

class StorageSource implements ImageSource {
  constructor(
    readonly reference: StorageReference,
    private readonly store: Store,
    private readonly image: ImageInfo,
    private readonly owned: boolean,
  ) {}

  async getManifest(instanceDigest?: Digest): Promise<RawManifest> {
    if (instanceDigest && instanceDigest !== this.image.manifestDigest) {
      throw new SkiffError(
        'MANIFEST_UNKNOWN',
        `${this.reference}: no manifest ${instanceDigest} (the store holds ${this.image.manifestDigest})`,
      );
    }
    return { raw: this.image.manifest, mediaType: this.image.manifestMediaType };
  }

  async getBlob(descriptor: Descriptor): Promise<BlobStream> {
    const digest = descriptor.digest as Digest;
    if (!this.store.hasBlob(digest)) {
      throw new SkiffError('BLOB_UNKNOWN', `${this.reference}: blob ${digest} is not in the store`);
    }
    return this.store.getBlob(digest);
  }

  async close(): Promise<void> {
    if (this.owned) this.store.close();
  }
}

class StorageDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities = {
    supportsIndex: false,
    manifestMediaTypes: [],
    layerCompression: 'preserve',
    concurrentBlobs: true,
  };
  private manifest: RawManifest | undefined;

  constructor(
    readonly reference: StorageReference,
    private readonly store: Store,
    private readonly owned: boolean,
  ) {}

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    return this.store.hasBlob(descriptor.digest as Digest);
  }

  async putBlob(stream: Readable, info: PutBlobInfo, signal?: AbortSignal): Promise<Descriptor> {
    const stored = await this.store.putBlob(stream, {
      ...(info.digest ? { digest: info.digest } : {}),
      ...(info.sizeBytes >= 0 ? { sizeBytes: info.sizeBytes } : {}),
      mediaType: info.mediaType,
      ...(signal ? { signal } : {}),
      ...(info.verified ? { verified: true } : {}),
    });
    return { mediaType: info.mediaType, digest: stored.digest, size: stored.sizeBytes };
  }

  async putManifest(manifest: RawManifest, instanceDigest?: Digest, signal?: AbortSignal): Promise<void> {
    if (instanceDigest) {
      throw new SkiffError(
        'UNSUPPORTED',
        `${this.reference}: the store holds one image per name, not an index`,
      );
    }
    const what = `manifest for ${this.reference}`;
    const parsed = parseManifest(manifest.raw, manifest.mediaType, what);
    if (parsed.kind !== 'manifest') {
      throw new SkiffError(
        'UNSUPPORTED',
        `${this.reference}: the store holds single-platform images: choose one instance of the index`,
      );
    }
    const configDigest = parsed.config.digest as Digest;
    if (!this.store.hasBlob(configDigest)) {
      throw new SkiffError('BLOB_UNKNOWN', `${what}: config ${configDigest} was not written first`);
    }
    const { stream } = this.store.getBlob(configDigest);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const config = parseImageConfig(Buffer.concat(chunks), `config ${configDigest}`);
    const diffIds = config.rootfs.diff_ids as Digest[];
    if (diffIds.length !== parsed.layers.length) {
      throw new SkiffError(
        'INVALID_CONFIG',
        `config ${configDigest} lists ${diffIds.length} diff_ids for ${parsed.layers.length} layers`,
      );
    }
    // overlay unpacks layers side by side (each diff is independent; registration follows the
    // chain order); vfs needs each parent's tree first. The FIFO gate starts layers in order, so
    // a layer waiting for its parent never holds the slot the parent needs.
    const gate = createLimiter(this.store.location.driver === 'overlay' ? UNPACK_CONCURRENCY : 1);
    let parent: Digest | undefined;
    const work: Promise<unknown>[] = [];
    for (const [i, layer] of parsed.layers.entries()) {
      const blob = layer.digest as Digest;
      if (!this.store.hasBlob(blob)) {
        throw new SkiffError('BLOB_UNKNOWN', `${what}: layer ${blob} was not written first`);
      }
      const layerParent = parent;
      const diffId = diffIds[i]!;
      work.push(
        gate(
          () =>
            this.store.applyLayer(layerParent, diffId, blob, () => this.store.getBlob(blob).stream, signal),
          signal,
        ),
      );
      parent = chainIdOf(layerParent, diffId);
    }
    const results = await Promise.allSettled(work);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    this.manifest = manifest;
  }

  async commit(): Promise<void> {
    if (!this.manifest) throw new SkiffError('INTERNAL', `${this.reference}: commit before putManifest`);
    const name = this.reference.target.ref!.toString();
    this.store.putImage({ manifest: this.manifest.raw, mediaType: this.manifest.mediaType, names: [name] });
  }

  async close(): Promise<void> {
    // Blobs and layers written without a commit stay registered (a retried pull reuses them);
    // no image or name was registered, so nothing is visible.
    if (this.owned) this.store.close();
  }
}

/** A containers-storage: reference with the caller's store options (--root, --runroot, --storage-driver) as defaults. */
export function parseContainersStorageReference(
  details: string,
  defaults: StoreLocationOptions = {},
  options: { store?: Store } = {},
): ImageReference {
  return new StorageReference(parseStorageDetails(details, defaults), options.store);
}

export const containersStorageTransport: Transport = {
  name: 'containers-storage',
  parseReference(details: string): ImageReference {
    return new StorageReference(parseStorageDetails(details));
  },
};
