import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { z } from 'zod';
import { asSkiffError, SkiffError } from '../errors.js';
import { detectCompression } from '../layer/compression.js';
import { type Digest, DigestVerifier, digestHex, digestOf } from '../spec/digest.js';
import { parseImageConfig, parseManifest } from '../spec/manifest.js';
import { MediaType } from '../spec/media-types.js';
import type { Descriptor } from '../spec/schemas.js';
import {
  formatNamedTagged,
  type NamedTagged,
  normalizeRepoTag,
  parseNamedTagged,
} from './local-docker-name.js';
import {
  fsyncDir,
  makeTempDir,
  openFileStream,
  removeDir,
  tempName,
  writeStreamVerified,
} from './local-fs.js';
import { indexTar, type TarIndexEntry, uncompressedTarPath } from './local-tar.js';
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
 * `docker-archive:PATH[:REF]` — the `docker save` format: manifest.json
 * ([{Config, RepoTags, Layers}]), the config as a JSON file, layers as uncompressed tars.
 * REF is a NAME:TAG (a RepoTags entry) or `@N` (the N-th image of manifest.json) when
 * reading, a NAME:TAG to record when writing.
 */

const archiveManifestSchema = z.array(
  z.looseObject({
    Config: z.string().min(1),
    RepoTags: z.array(z.string()).nullish(),
    Layers: z.array(z.string()),
  }),
);
type ArchiveItem = z.infer<typeof archiveManifestSchema>[number];

interface ArchiveTarget {
  file: string;
  tagged?: NamedTagged;
  sourceIndex: number;
}

function parseArchiveDetails(details: string): ArchiveTarget {
  const colon = details.indexOf(':');
  const file = colon < 0 ? details : details.slice(0, colon);
  const ref = colon < 0 ? '' : details.slice(colon + 1);
  if (file === '')
    throw new SkiffError(
      'INVALID_REFERENCE',
      `invalid docker-archive: reference "${details}": the path is empty`,
    );
  const t: ArchiveTarget = { file: path.resolve(file), sourceIndex: -1 };
  if (ref.startsWith('@')) {
    if (!/^@\d+$/.test(ref)) {
      throw new SkiffError(
        'INVALID_REFERENCE',
        `invalid docker-archive: reference "${details}": "${ref}" is not @INDEX`,
      );
    }
    t.sourceIndex = Number.parseInt(ref.slice(1), 10);
  } else if (ref !== '') {
    t.tagged = parseNamedTagged(ref, `invalid docker-archive: reference "${details}"`);
  }
  return t;
}

async function readRange(file: string, e: TarIndexEntry, maxBytes: number, what: string): Promise<Buffer> {
  if (e.sizeBytes > maxBytes)
    throw new SkiffError('INVALID_ARCHIVE', `${what} is too large (${e.sizeBytes} bytes)`);
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(e.sizeBytes);
    await fh.read(buf, 0, e.sizeBytes, e.offset);
    return buf;
  } finally {
    await fh.close();
  }
}

class DockerArchiveSource implements ImageSource {
  private constructor(
    readonly reference: DockerArchiveReference,
    private readonly tarFile: string,
    private readonly manifestRaw: Buffer,
    private readonly blobs: Map<string, TarIndexEntry>,
    private readonly tags: string[],
    private readonly scratch: string,
  ) {}

  static async open(reference: DockerArchiveReference): Promise<DockerArchiveSource> {
    const { file } = reference.target;
    const what = reference.toString();
    try {
      if (!(await fs.stat(file)).isFile()) throw new Error('not a file');
    } catch {
      throw new SkiffError('NOT_FOUND', `${what}: archive ${file} does not exist`);
    }
    const scratch = await makeTempDir('skiff-docker-archive-');
    try {
      const tarFile = await uncompressedTarPath(file, scratch, `archive ${file}`);
      const entries = await indexTar(tarFile, `archive ${file}`);
      const manifestEntry = entries.get('manifest.json');
      if (!manifestEntry || manifestEntry.type !== 'file') {
        throw new SkiffError(
          'INVALID_ARCHIVE',
          `archive ${file} has no manifest.json; is it a docker-archive (docker save) file?`,
        );
      }
      const rawList = await readRange(tarFile, manifestEntry, 16 << 20, `manifest.json in ${file}`);
      let doc: unknown;
      try {
        doc = JSON.parse(rawList.toString('utf8'));
      } catch (err) {
        throw new SkiffError(
          'INVALID_ARCHIVE',
          `manifest.json in ${file} is not valid JSON: ${(err as Error).message}`,
        );
      }
      const parsed = archiveManifestSchema.safeParse(doc);
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        throw new SkiffError(
          'INVALID_ARCHIVE',
          `manifest.json in ${file} is invalid: ${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : ''}`,
        );
      }
      const item = selectItem(parsed.data, reference.target, what);
      const need = (name: string, role: string): TarIndexEntry => {
        const e = entries.get(path.posix.normalize(name.replace(/^\.?\//, '')));
        if (!e || e.type !== 'file') {
          throw new SkiffError(
            'INVALID_ARCHIVE',
            `archive ${file}: ${role} "${name}" named in manifest.json is missing`,
          );
        }
        return e;
      };
      const configEntry = need(item.Config, 'config');
      const configRaw = await readRange(tarFile, configEntry, 64 << 20, `config ${item.Config} in ${file}`);
      const config = parseImageConfig(configRaw, `${item.Config} in ${file}`);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== item.Layers.length) {
        throw new SkiffError(
          'INVALID_ARCHIVE',
          `archive ${file}: config lists ${diffIds.length} layers, manifest.json ${item.Layers.length}`,
        );
      }
      const configDigest = digestOf(configRaw);
      const blobs = new Map<string, TarIndexEntry>([[configDigest, configEntry]]);
      const layers: Descriptor[] = [];
      for (const [i, name] of item.Layers.entries()) {
        const e = need(name, 'layer');
        const head = await readRange(tarFile, { ...e, sizeBytes: Math.min(e.sizeBytes, 8) }, 8, name);
        const compression = detectCompression(head);
        let digest: Digest;
        let mediaType: string;
        if (compression === 'none') {
          digest = diffIds[i] as Digest;
          mediaType = MediaType.dockerLayer;
        } else {
          const { stream } = await openFileStream(tarFile, name, { start: e.offset, sizeBytes: e.sizeBytes });
          const v = new DigestVerifier();
          await pipeline(stream, v, new PassThrough().resume());
          digest = v.digest;
          mediaType = compression === 'gzip' ? MediaType.dockerLayerGzip : MediaType.ociLayerZstd;
        }
        blobs.set(digest, e);
        layers.push({ mediaType, size: e.sizeBytes, digest });
      }
      const manifest = {
        schemaVersion: 2,
        mediaType: MediaType.dockerManifest,
        config: { mediaType: MediaType.dockerConfig, size: configRaw.length, digest: configDigest },
        layers,
      };
      const manifestRaw = Buffer.from(JSON.stringify(manifest, null, 3));
      const tags = parsed.data.flatMap((it) => it.RepoTags ?? []);
      return new DockerArchiveSource(reference, tarFile, manifestRaw, blobs, tags, scratch);
    } catch (err) {
      await removeDir(scratch);
      throw asSkiffError(err, what);
    }
  }

  readonly repoTags = async (): Promise<string[]> => this.tags;

  async getManifest(instanceDigest?: Digest): Promise<RawManifest> {
    if (instanceDigest !== undefined && instanceDigest !== digestOf(this.manifestRaw)) {
      throw new SkiffError(
        'MANIFEST_UNKNOWN',
        `${this.reference.toString()}: no manifest ${instanceDigest} (docker-archive holds one image)`,
      );
    }
    return { raw: this.manifestRaw, mediaType: MediaType.dockerManifest };
  }

  async getBlob(descriptor: Descriptor): Promise<BlobStream> {
    const e = this.blobs.get(descriptor.digest);
    if (!e)
      throw new SkiffError(
        'BLOB_UNKNOWN',
        `${this.reference.toString()}: no blob ${descriptor.digest} in the archive`,
      );
    return openFileStream(this.tarFile, `blob ${descriptor.digest} of ${this.reference.toString()}`, {
      start: e.offset,
      sizeBytes: e.sizeBytes,
    });
  }

  async close(): Promise<void> {
    await removeDir(this.scratch);
  }
}

function selectItem(items: ArchiveItem[], t: ArchiveTarget, what: string): ArchiveItem {
  const listTags = () => {
    const all = items.flatMap((it) => it.RepoTags ?? []);
    return all.length ? `tags present: ${all.join(', ')}` : 'no tags present';
  };
  if (t.sourceIndex >= 0) {
    const it = items[t.sourceIndex];
    if (!it)
      throw new SkiffError(
        'NOT_FOUND',
        `${what}: index @${t.sourceIndex} is out of range, the archive has ${items.length} images`,
      );
    return it;
  }
  if (t.tagged) {
    const want = formatNamedTagged(t.tagged);
    const it = items.find((i) => (i.RepoTags ?? []).some((tag) => normalizeRepoTag(tag) === want));
    if (!it)
      throw new SkiffError('NOT_FOUND', `${what}: no image tagged ${want} in ${t.file} (${listTags()})`);
    return it;
  }
  if (items.length === 1) return items[0]!;
  if (items.length === 0)
    throw new SkiffError('NOT_FOUND', `${what}: manifest.json in ${t.file} lists no image`);
  throw new SkiffError(
    'INVALID_REFERENCE',
    `${what}: ${t.file} holds ${items.length} images, name one (${listTags()})`,
    {
      hint: 'append :NAME:TAG or :@INDEX to the path',
    },
  );
}

const ARCHIVE_CAPABILITIES: DestinationCapabilities = {
  supportsIndex: false,
  manifestMediaTypes: [MediaType.dockerManifest],
  layerCompression: 'decompress',
  concurrentBlobs: false,
};

const MTIME = new Date(0);

class DockerArchiveDestination implements ImageDestination {
  readonly capabilities = ARCHIVE_CAPABILITIES;
  private readonly pack = tar.pack();
  private readonly writing: Promise<void>;
  private readonly written = new Map<string, { name: string; size: number }>();
  private configs = new Map<string, Buffer>();
  private item: { Config: string; RepoTags: string[]; Layers: string[] } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private broken: unknown;
  private committed = false;
  private closed = false;

  constructor(
    readonly reference: DockerArchiveReference,
    private readonly tmpFile: string,
    private readonly fh: fs.FileHandle,
    private readonly scratch: string,
  ) {
    const out = createWriteStream('', { fd: fh.fd, autoClose: false });
    this.writing = pipeline(this.pack, out);
    this.writing.catch((err: unknown) => {
      this.broken ??= err;
    });
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private entry(name: string, size: number, source: Readable | Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (err: unknown) => {
        this.broken ??= err;
        reject(err);
      };
      const done = (err?: Error | null) => (err ? fail(err) : resolve());
      if (Buffer.isBuffer(source)) {
        this.pack.entry({ name, size: source.length, mode: 0o644, mtime: MTIME, type: 'file' }, source, done);
        return;
      }
      const e = this.pack.entry({ name, size, mode: 0o644, mtime: MTIME, type: 'file' }, done);
      pipeline(source, e).catch(fail);
    });
  }

  async hasBlob(descriptor: Descriptor): Promise<boolean> {
    return this.written.has(descriptor.digest);
  }

  putBlob(stream: Readable, info: PutBlobInfo, signal?: AbortSignal): Promise<Descriptor> {
    return this.serialize(() => this.putBlobNow(stream, info, signal));
  }

  private async putBlobNow(stream: Readable, info: PutBlobInfo, signal?: AbortSignal): Promise<Descriptor> {
    if (this.broken) throw asSkiffError(this.broken, `writing ${this.reference.toString()}`);
    const what = `blob${info.digest ? ` ${info.digest}` : ''} for ${this.reference.toString()}`;
    const isConfig =
      info.isConfig === true ||
      info.mediaType === MediaType.dockerConfig ||
      info.mediaType === MediaType.ociConfig;
    if (!isConfig && info.digest && info.sizeBytes >= 0 && !this.written.has(info.digest)) {
      // Digest and size known: stream straight into the archive, verifying on the way. A
      // mismatch leaves the archive unusable (commit refuses; close removes the temp file).
      const verifier = new DigestVerifier({ digest: info.digest, sizeBytes: info.sizeBytes, what });
      const name = `${digestHex(info.digest)}.tar`;
      const flowing = pipeline(stream, verifier, signal ? { signal } : {});
      const entering = this.entry(name, info.sizeBytes, verifier);
      const [a, b] = await Promise.allSettled([flowing, entering]);
      if (a.status === 'rejected' || b.status === 'rejected') {
        const err = a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason;
        this.broken ??= err;
        throw asSkiffError(err, what);
      }
      this.written.set(info.digest, { name, size: info.sizeBytes });
      return { mediaType: info.mediaType, digest: info.digest, size: info.sizeBytes };
    }
    // Spool to a scratch file so the digest and size are known before the tar header is written.
    const spool = path.join(this.scratch, `blob-${this.written.size}-${Date.now()}`);
    const { digest, sizeBytes } = await writeStreamVerified(stream, spool, {
      ...(info.digest ? { digest: info.digest } : {}),
      sizeBytes: info.sizeBytes,
      what,
      ...(signal ? { signal } : {}),
      ...(info.verified ? { verified: true } : {}),
    });
    try {
      const existing = this.written.get(digest);
      if (existing) return { mediaType: info.mediaType, digest, size: sizeBytes };
      const name = `${digestHex(digest)}.${isConfig ? 'json' : 'tar'}`;
      if (isConfig) {
        const raw = await fs.readFile(spool);
        this.configs.set(digest, raw);
        await this.entry(name, raw.length, raw);
      } else {
        const { stream: file } = await openFileStream(spool, what);
        await this.entry(name, sizeBytes, file);
      }
      this.written.set(digest, { name, size: sizeBytes });
      return { mediaType: info.mediaType, digest, size: sizeBytes };
    } finally {
      await fs.rm(spool, { force: true });
    }
  }

  async putManifest(manifest: RawManifest, instanceDigest?: Digest): Promise<void> {
    const what = this.reference.toString();
    const m = parseManifest(manifest.raw, manifest.mediaType, what);
    if (m.kind === 'index' || instanceDigest !== undefined) {
      throw new SkiffError(
        'UNSUPPORTED',
        `${what}: docker-archive cannot store a multi-image index; choose one platform`,
      );
    }
    const configRaw = this.configs.get(m.config.digest);
    const configFile = this.written.get(m.config.digest);
    if (!configRaw || !configFile) {
      throw new SkiffError(
        'BLOB_UNKNOWN',
        `${what}: config ${m.config.digest} was not written before the manifest`,
      );
    }
    const config = parseImageConfig(configRaw, `config ${m.config.digest}`);
    if (config.rootfs.diff_ids.length !== m.layers.length) {
      throw new SkiffError(
        'INVALID_CONFIG',
        `${what}: config lists ${config.rootfs.diff_ids.length} layers, manifest ${m.layers.length}`,
      );
    }
    const layers: string[] = [];
    for (const [i, l] of m.layers.entries()) {
      const f = this.written.get(l.digest);
      if (!f)
        throw new SkiffError(
          'BLOB_UNKNOWN',
          `${what}: layer ${l.digest} was not written before the manifest`,
        );
      if (l.digest !== config.rootfs.diff_ids[i]) {
        throw new SkiffError(
          'UNSUPPORTED',
          `${what}: layer ${l.digest} is not the uncompressed layer ${config.rootfs.diff_ids[i]}; docker-archive stores uncompressed layers`,
        );
      }
      layers.push(f.name);
    }
    const tagged = this.reference.target.tagged;
    this.item = {
      Config: configFile.name,
      RepoTags: tagged ? [formatNamedTagged(tagged)] : [],
      Layers: layers,
    };
  }

  commit(): Promise<void> {
    return this.serialize(async () => {
      const what = this.reference.toString();
      if (!this.item) throw new SkiffError('INVALID_ARGUMENT', `${what}: commit before putManifest`);
      if (this.broken) throw asSkiffError(this.broken, `writing ${what}`);
      await this.entry('manifest.json', -1, Buffer.from(JSON.stringify([this.item])));
      this.pack.finalize();
      await this.writing;
      await this.fh.sync();
      await this.fh.close();
      await fs.rename(this.tmpFile, this.reference.target.file);
      await fsyncDir(path.dirname(this.reference.target.file));
      this.committed = true;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.committed) {
      this.pack.destroy();
      await this.writing.catch(() => {});
      await this.fh.close().catch(() => {});
      await fs.rm(this.tmpFile, { force: true });
    }
    await removeDir(this.scratch);
  }
}

class DockerArchiveReference implements ImageReference {
  readonly transport = 'docker-archive';
  constructor(readonly target: ArchiveTarget) {}

  get withinTransport(): string {
    const { file, tagged, sourceIndex } = this.target;
    if (sourceIndex >= 0) return `${file}:@${sourceIndex}`;
    return tagged ? `${file}:${formatNamedTagged(tagged)}` : file;
  }

  toString(): string {
    return `docker-archive:${this.withinTransport}`;
  }

  newSource(_options?: TransportOptions): Promise<ImageSource> {
    return DockerArchiveSource.open(this);
  }

  async newDestination(_options?: TransportOptions): Promise<ImageDestination> {
    const what = this.toString();
    if (this.target.sourceIndex >= 0)
      throw new SkiffError('INVALID_REFERENCE', `${what}: @INDEX cannot be used to write an image`);
    const dir = path.dirname(this.target.file);
    try {
      await fs.access(dir);
    } catch {
      throw new SkiffError('NOT_FOUND', `${what}: directory ${dir} does not exist`);
    }
    const tmpFile = tempName(this.target.file);
    const fh = await fs.open(tmpFile, 'wx', 0o644).catch((err: unknown) => {
      throw asSkiffError(err, `creating ${tmpFile}`);
    });
    const scratch = await makeTempDir(`.${path.basename(this.target.file)}.blobs-`, dir).catch(
      async (err: unknown) => {
        await fh.close();
        await fs.rm(tmpFile, { force: true });
        throw asSkiffError(err, `creating a scratch directory in ${dir}`);
      },
    );
    return new DockerArchiveDestination(this, tmpFile, fh, scratch);
  }
}

export const dockerArchiveTransport: Transport = {
  name: 'docker-archive',
  parseReference(details: string): ImageReference {
    return new DockerArchiveReference(parseArchiveDetails(details));
  },
};
