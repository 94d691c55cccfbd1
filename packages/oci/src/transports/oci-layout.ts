import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { asSkiffError, SkiffError } from '../errors.js';
import { type Digest, digestOf, isDigest, parseDigest } from '../spec/digest.js';
import { parseManifest } from '../spec/manifest.js';
import { MediaType } from '../spec/media-types.js';
import { type Descriptor, ociIndexSchema } from '../spec/schemas.js';
import {
  exists,
  fsyncDir,
  openFileStream,
  parseJsonFile,
  readSmallFile,
  tempName,
  writeFileAtomic,
  writeStreamVerified,
} from './local-fs.js';
import type {
  BlobStream,
  DestinationCapabilities,
  ImageDestination,
  ImageReference,
  ImageSource,
  PutBlobInfo,
  RawManifest,
  Transport,
  TransportOptions,
} from './types.js';

/**
 * `oci:PATH[:REF]` — an OCI image layout directory (oci-layout, index.json, blobs/ALG/HEX).
 * REF is the `org.opencontainers.image.ref.name` annotation of an index.json entry, or
 * `@N`, the N-th entry (reading only). Without REF a source reads the only image there.
 */

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const LAYOUT_FILE_CONTENT = '{"imageLayoutVersion":"1.0.0"}';
/** The ref grammar containers/image accepts for a layout's image name. */
const REF_RE = /^[A-Za-z0-9._-]+(?:[:@/+][A-Za-z0-9._-]+)*$/;

export interface LayoutTarget {
  /** Absolute path of the layout directory. */
  dir: string;
  /** The ref name; '' when absent. */
  image: string;
  /** `@N`: index into index.json's manifests; -1 when not used. */
  sourceIndex: number;
}

/** Split `PATH[:REF]` at the first colon, as containers/image does on Unix. */
export function parseLayoutDetails(details: string, transport: string): LayoutTarget {
  const colon = details.indexOf(':');
  const rawPath = colon < 0 ? details : details.slice(0, colon);
  const ref = colon < 0 ? '' : details.slice(colon + 1);
  if (rawPath === '') {
    throw new SkiffError(
      'INVALID_REFERENCE',
      `invalid ${transport}: reference "${details}": the path is empty`,
    );
  }
  let sourceIndex = -1;
  let image = '';
  if (ref !== '') {
    if (ref.startsWith('@')) {
      if (!/^@\d+$/.test(ref)) {
        throw new SkiffError(
          'INVALID_REFERENCE',
          `invalid ${transport}: reference "${details}": "${ref}" is not @INDEX`,
        );
      }
      sourceIndex = Number.parseInt(ref.slice(1), 10);
    } else {
      if (!REF_RE.test(ref)) {
        throw new SkiffError(
          'INVALID_REFERENCE',
          `invalid ${transport}: reference "${details}": invalid image name "${ref}"`,
        );
      }
      image = ref;
    }
  }
  return { dir: path.resolve(rawPath), image, sourceIndex };
}

export function layoutWithin(t: LayoutTarget): string {
  if (t.sourceIndex >= 0) return `${t.dir}:@${t.sourceIndex}`;
  return t.image ? `${t.dir}:${t.image}` : t.dir;
}

export function blobPath(dir: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return path.join(dir, 'blobs', algorithm, hex);
}

/** The layout's index.json, parsed; the raw document is kept so unknown fields survive rewrites. */
export interface LayoutIndex {
  doc: Record<string, unknown>;
  manifests: Descriptor[];
}

export async function readLayoutIndex(dir: string, what: string): Promise<LayoutIndex> {
  let st: import('node:fs').Stats;
  try {
    st = await fs.stat(dir);
  } catch {
    throw new SkiffError('NOT_FOUND', `${what}: directory ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new SkiffError('NOT_FOUND', `${what}: ${dir} is not a directory`);
  const layoutFile = path.join(dir, 'oci-layout');
  const layout = parseJsonFile(
    await readSmallFile(layoutFile, `${what}: OCI layout file`),
    layoutFile,
    'INVALID_ARCHIVE',
  );
  const version = (layout as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
  if (typeof version !== 'string') {
    throw new SkiffError('INVALID_ARCHIVE', `${layoutFile} has no imageLayoutVersion`);
  }
  const indexFile = path.join(dir, 'index.json');
  const doc = parseJsonFile(await readSmallFile(indexFile, `${what}: index`), indexFile, 'INVALID_MANIFEST');
  const r = ociIndexSchema.safeParse(doc);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new SkiffError(
      'INVALID_MANIFEST',
      `${indexFile} is not a valid OCI index: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : ''}`,
    );
  }
  return { doc: doc as Record<string, unknown>, manifests: r.data.manifests };
}

function refNames(manifests: Descriptor[]): string[] {
  return manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((n): n is string => !!n);
}

function describeRefs(manifests: Descriptor[]): string {
  const names = refNames(manifests);
  return names.length ? `refs present: ${names.join(', ')}` : 'no named refs present';
}

/** Find the index.json entry a target names. */
export function selectLayoutEntry(index: LayoutIndex, t: LayoutTarget, what: string): Descriptor {
  const { manifests } = index;
  if (t.sourceIndex >= 0) {
    const d = manifests[t.sourceIndex];
    if (!d) {
      throw new SkiffError(
        'NOT_FOUND',
        `${what}: index @${t.sourceIndex} is out of range, ${t.dir}/index.json has ${manifests.length} entries`,
      );
    }
    return d;
  }
  if (t.image) {
    const d = manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === t.image);
    if (!d)
      throw new SkiffError(
        'NOT_FOUND',
        `${what}: no image named "${t.image}" in ${t.dir} (${describeRefs(manifests)})`,
      );
    return d;
  }
  if (manifests.length === 1) return manifests[0]!;
  if (manifests.length === 0)
    throw new SkiffError('NOT_FOUND', `${what}: ${t.dir}/index.json lists no image`);
  throw new SkiffError(
    'INVALID_REFERENCE',
    `${what}: ${t.dir} holds ${manifests.length} images, name one (${describeRefs(manifests)})`,
    { hint: 'append :REF or :@INDEX to the path' },
  );
}

function sniffMediaType(raw: Buffer): string | undefined {
  try {
    const doc = JSON.parse(raw.toString('utf8')) as {
      mediaType?: unknown;
      manifests?: unknown;
      config?: unknown;
    };
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    if (doc.manifests) return MediaType.ociIndex;
    if (doc.config) return MediaType.ociManifest;
  } catch {
    // parseManifest reports it later
  }
  return undefined;
}

/** Read a manifest blob whole (manifests are small) and check its digest. */
async function readManifestBlob(dir: string, digest: string, what: string): Promise<Buffer> {
  const file = blobPath(dir, digest);
  let raw: Buffer;
  try {
    raw = await readSmallFile(file, `${what}: manifest blob`, 16 * 1024 * 1024);
  } catch (err) {
    if ((err as SkiffError).code === 'NOT_FOUND') {
      throw new SkiffError(
        'MANIFEST_UNKNOWN',
        `${what}: manifest ${digest} is missing (${file} does not exist)`,
      );
    }
    throw err;
  }
  const actual = digestOf(raw, parseDigest(digest).algorithm);
  if (actual !== digest)
    throw new SkiffError('DIGEST_MISMATCH', `${what}: manifest blob ${file} has digest ${actual}`);
  return raw;
}

export class OciLayoutSource implements ImageSource {
  private constructor(
    readonly reference: ImageReference,
    private readonly dir: string,
    private readonly top: Descriptor,
    private readonly index: LayoutIndex,
    private readonly onClose?: () => Promise<void>,
  ) {}

  static async open(
    reference: ImageReference,
    target: LayoutTarget,
    onClose?: () => Promise<void>,
  ): Promise<OciLayoutSource> {
    const what = reference.toString();
    const index = await readLayoutIndex(target.dir, what);
    const top = selectLayoutEntry(index, target, what);
    return new OciLayoutSource(reference, target.dir, top, index, onClose);
  }

  get topDescriptor(): Descriptor {
    return this.top;
  }

  readonly repoTags = async (): Promise<string[]> => refNames(this.index.manifests);

  async getManifest(instanceDigest?: Digest): Promise<RawManifest> {
    const what = this.reference.toString();
    if (instanceDigest === undefined) {
      const raw = await readManifestBlob(this.dir, this.top.digest, what);
      return { raw, mediaType: this.top.mediaType };
    }
    if (!isDigest(instanceDigest))
      throw new SkiffError('INVALID_ARGUMENT', `invalid digest "${instanceDigest}"`);
    const raw = await readManifestBlob(this.dir, instanceDigest, what);
    return { raw, mediaType: sniffMediaType(raw) ?? MediaType.ociManifest };
  }

  async getBlob(descriptor: Descriptor): Promise<BlobStream> {
    const file = blobPath(this.dir, descriptor.digest);
    return openFileStream(file, `blob ${descriptor.digest} of ${this.reference.toString()}`);
  }

  async close(): Promise<void> {
    await this.onClose?.();
  }
}

/** An OCI layout holds OCI manifests and indexes: Docker ones are converted, as skopeo does. */
const OCI_CAPABILITIES: DestinationCapabilities = {
  supportsIndex: true,
  manifestMediaTypes: [MediaType.ociManifest, MediaType.ociIndex],
  layerCompression: 'preserve',
  concurrentBlobs: true,
};

export class OciLayoutDestination implements ImageDestination {
  readonly capabilities = OCI_CAPABILITIES;
  private top: Descriptor | undefined;
  private readonly written = new Set<string>();
  /** Blob directories renamed into since the last fsync of theirs. */
  private readonly dirtyDirs = new Set<string>();
  private committed = false;
  private closed = false;

  private constructor(
    readonly reference: ImageReference,
    private readonly target: LayoutTarget,
    private readonly createdDir: boolean,
  ) {}

  static async open(reference: ImageReference, target: LayoutTarget): Promise<OciLayoutDestination> {
    if (target.sourceIndex >= 0) {
      throw new SkiffError(
        'INVALID_REFERENCE',
        `${reference.toString()}: @INDEX cannot be used to write an image`,
      );
    }
    const createdDir = !(await exists(target.dir));
    try {
      await fs.mkdir(path.join(target.dir, 'blobs'), { recursive: true });
    } catch (err) {
      throw asSkiffError(err, `creating ${target.dir}`);
    }
    const layoutFile = path.join(target.dir, 'oci-layout');
    if (!(await exists(layoutFile))) await writeFileAtomic(layoutFile, LAYOUT_FILE_CONTENT);
    else
      await readLayoutIndex(target.dir, reference.toString()).catch((err: SkiffError) => {
        // A fresh directory with only oci-layout is fine; a corrupt index.json is not.
        if (err.code !== 'NOT_FOUND') throw err;
      });
    return new OciLayoutDestination(reference, target, createdDir);
  }

  get dir(): string {
    return this.target.dir;
  }

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    try {
      const st = await fs.stat(blobPath(this.target.dir, descriptor.digest));
      return st.isFile() && (descriptor.size < 0 || st.size === descriptor.size);
    } catch {
      return false;
    }
  }

  async putBlob(stream: Readable, info: PutBlobInfo, signal?: AbortSignal): Promise<Descriptor> {
    const what = `blob${info.digest ? ` ${info.digest}` : ''} for ${this.reference.toString()}`;
    const algorithm = info.digest ? parseDigest(info.digest).algorithm : 'sha256';
    const algDir = path.join(this.target.dir, 'blobs', algorithm);
    await fs.mkdir(algDir, { recursive: true });
    const tmp = tempName(path.join(algDir, 'blob'));
    const { digest, sizeBytes } = await writeStreamVerified(stream, tmp, {
      ...(info.digest ? { digest: info.digest } : {}),
      sizeBytes: info.sizeBytes,
      what,
      ...(signal ? { signal } : {}),
      ...(info.verified ? { verified: true } : {}),
    });
    const final = blobPath(this.target.dir, digest);
    const present = await exists(final);
    try {
      await fs.rename(tmp, final);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw asSkiffError(err, `storing ${what}`);
    }
    // The directory is fsynced once, at commit, before index.json points at what it holds.
    this.dirtyDirs.add(algDir);
    if (!present) this.written.add(digest);
    return { mediaType: info.mediaType, digest, size: sizeBytes };
  }

  async putManifest(manifest: RawManifest, instanceDigest?: Digest): Promise<void> {
    const what = this.reference.toString();
    const parsed = parseManifest(manifest.raw, manifest.mediaType, what);
    const digest = instanceDigest
      ? digestOf(manifest.raw, parseDigest(instanceDigest).algorithm)
      : parsed.digest;
    if (instanceDigest && digest !== instanceDigest) {
      throw new SkiffError(
        'DIGEST_MISMATCH',
        `manifest for ${what}: expected ${instanceDigest}, content has ${digest}`,
      );
    }
    const file = blobPath(this.target.dir, digest);
    if (!(await exists(file))) {
      await fs.mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, manifest.raw, { syncDir: false });
      this.dirtyDirs.add(path.dirname(file));
      this.written.add(digest);
    }
    if (instanceDigest === undefined) {
      const d: Descriptor = { mediaType: parsed.mediaType, digest, size: manifest.raw.length };
      if (this.target.image) d.annotations = { [REF_NAME_ANNOTATION]: this.target.image };
      this.top = d;
    }
  }

  async commit(): Promise<void> {
    if (!this.top)
      throw new SkiffError('INVALID_ARGUMENT', `${this.reference.toString()}: commit before putManifest`);
    const top = this.top;
    await Promise.all([...this.dirtyDirs].map((d) => fsyncDir(d)));
    await withIndexLock(this.target.dir, async () => {
      const indexFile = path.join(this.target.dir, 'index.json');
      let doc: Record<string, unknown> = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
      let manifests: Descriptor[] = [];
      if (await exists(indexFile)) {
        const idx = await readLayoutIndex(this.target.dir, this.reference.toString());
        doc = idx.doc;
        manifests = idx.manifests;
      }
      const name = this.target.image;
      manifests = manifests.filter((m) => {
        const n = m.annotations?.[REF_NAME_ANNOTATION];
        return name ? n !== name : !(n === undefined && m.digest === top.digest);
      });
      manifests.push(top);
      const out = { ...doc, schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
      await writeFileAtomic(indexFile, JSON.stringify(out));
    });
    this.committed = true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.committed) return;
    if (this.createdDir) {
      await fs.rm(this.target.dir, { recursive: true, force: true });
      return;
    }
    // Remove what we added that nothing in the layout references.
    if (this.written.size === 0) return;
    const keep = await reachableBlobs(this.target.dir).catch(() => undefined);
    if (!keep) return;
    for (const d of this.written)
      if (!keep.has(d)) await fs.rm(blobPath(this.target.dir, d), { force: true });
  }
}

const LOCK_STALE_MS = 60_000;

/**
 * Serialise read-modify-write of index.json between processes: an exclusive-create lock file
 * next to it (taken over when older than a minute, e.g. after a kill -9).
 */
export async function withIndexLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, '.index.json.lock');
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const fh = await fs.open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw asSkiffError(err, `locking ${dir}/index.json`);
      const st = await fs.stat(lock).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        await fs.rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new SkiffError('IO', `${dir}/index.json is locked by another writer (${lock})`, {
          hint: `remove ${lock} if no other process is writing the layout`,
        });
      }
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 50));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

/** Every blob digest reachable from index.json (manifests, their configs, layers, subjects). */
export async function reachableBlobs(dir: string): Promise<Set<string>> {
  const keep = new Set<string>();
  if (!(await exists(path.join(dir, 'index.json')))) return keep;
  const index = await readLayoutIndex(dir, `oci:${dir}`);
  const queue: Descriptor[] = [...index.manifests];
  while (queue.length) {
    const d = queue.pop()!;
    if (keep.has(d.digest)) continue;
    keep.add(d.digest);
    const file = blobPath(dir, d.digest);
    if (!(await exists(file))) continue;
    const kind = d.mediaType;
    const looksManifest =
      kind === MediaType.ociIndex ||
      kind === MediaType.ociManifest ||
      kind === MediaType.dockerManifest ||
      kind === MediaType.dockerManifestList;
    if (!looksManifest) continue;
    const raw = await fs.readFile(file);
    try {
      const m = parseManifest(raw, kind, `${dir}: ${d.digest}`);
      if (m.kind === 'index') queue.push(...m.manifests);
      else queue.push(m.config, ...m.layers);
      if (m.subject) queue.push(m.subject);
    } catch {
      // An unreadable manifest keeps only itself.
    }
  }
  return keep;
}

async function garbageCollect(dir: string): Promise<void> {
  const keep = await reachableBlobs(dir);
  const blobsDir = path.join(dir, 'blobs');
  for (const alg of await fs.readdir(blobsDir).catch(() => [] as string[])) {
    const algDir = path.join(blobsDir, alg);
    for (const hex of await fs.readdir(algDir).catch(() => [] as string[])) {
      if (!keep.has(`${alg}:${hex}`)) await fs.rm(path.join(algDir, hex), { force: true });
    }
  }
}

export class OciLayoutReference implements ImageReference {
  readonly transport = 'oci';
  constructor(readonly target: LayoutTarget) {}

  get withinTransport(): string {
    return layoutWithin(this.target);
  }

  toString(): string {
    return `oci:${this.withinTransport}`;
  }

  newSource(_options?: TransportOptions): Promise<ImageSource> {
    return OciLayoutSource.open(this, this.target);
  }

  newDestination(_options?: TransportOptions): Promise<ImageDestination> {
    return OciLayoutDestination.open(this, this.target);
  }

  /** Remove the index.json entry and every blob nothing else in the layout references. */
  async deleteImage(_options?: TransportOptions, signal?: AbortSignal): Promise<void> {
    const what = this.toString();
    await readLayoutIndex(this.target.dir, what);
    await withIndexLock(this.target.dir, async () => {
      const index = await readLayoutIndex(this.target.dir, what);
      const entry = selectLayoutEntry(index, this.target, what);
      const manifests = index.manifests.filter((m) => m !== entry);
      if (signal?.aborted) throw new SkiffError('ABORTED', `${what}: aborted`);
      await writeFileAtomic(
        path.join(this.target.dir, 'index.json'),
        JSON.stringify({ ...index.doc, schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }),
      );
      await garbageCollect(this.target.dir);
    });
  }
}

export const ociTransport: Transport = {
  name: 'oci',
  parseReference(details: string): ImageReference {
    return new OciLayoutReference(parseLayoutDetails(details, 'oci'));
  },
};
