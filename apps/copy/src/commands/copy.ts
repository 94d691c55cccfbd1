import { Args, Flags } from '@oclif/core';
import { type CopyOptions, copyImage, type MultiArch } from '@skiff/oci/copy/copy';
import type { CopyProgressEvent } from '@skiff/oci/copy/events';
import { writeDigestFile } from '@skiff/oci/image/digest-file';
import type { Compression, ManifestFormat } from '@skiff/oci/spec/media-types';
import { parseImageName } from '@skiff/oci/transports/index';
import { FerryCommand, UsageError } from '../base-command.js';
import { createProgressRenderer } from '../render/progress.js';
import { imageFlags, overridePlatform, retryFlags, transportOptions } from '../transport-flags.js';

const FORMATS: Record<string, ManifestFormat> = { oci: 'oci', v2s2: 'v2s2' };

export default class Copy extends FerryCommand {
  static override summary = 'Copy an IMAGE-NAME from one location to another';
  static override description =
    'Copies an image, every instance of a multi-platform index by default, verifying every blob while it streams.';
  static override examples = [
    '<%= config.bin %> copy oci:/tmp/layout:latest docker://127.0.0.1:5000/busybox:1',
    '<%= config.bin %> copy --format v2s2 docker://127.0.0.1:5000/a:1 docker-archive:/tmp/a.tar:a:1',
  ];
  static override args = {
    source: Args.string({ required: true, description: 'source image (TRANSPORT:DETAILS)' }),
    destination: Args.string({ required: true, description: 'destination image (TRANSPORT:DETAILS)' }),
  };
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'copy all images if SOURCE-IMAGE is a list' }),
    'multi-arch': Flags.string({
      description: 'how to handle multi-architecture images (system, all, or index-only)',
      options: ['system', 'all', 'index-only'],
    }),
    format: Flags.string({ char: 'f', description: 'MANIFEST TYPE (oci, v2s2) to use in the destination' }),
    'dest-compress': Flags.boolean({
      description: 'compress tarball image layers when saving to directory using the dir transport',
    }),
    'dest-compress-format': Flags.string({
      description: 'compression format to use for the destination (gzip, zstd)',
    }),
    'dest-compress-level': Flags.integer({ description: 'compression level to use for the destination' }),
    'dest-decompress': Flags.boolean({
      description: 'decompress tarball image layers when saving to directory',
    }),
    'preserve-digests': Flags.boolean({ description: 'preserve digests of images and lists' }),
    'remove-signatures': Flags.boolean({ description: 'do not copy signatures from SOURCE-IMAGE' }),
    'sign-by': Flags.string({ description: 'sign the image using a GPG key with the specified FINGERPRINT' }),
    digestfile: Flags.string({ description: 'write the digest of the pushed image to the specified file' }),
    'image-parallel-copies': Flags.integer({
      description: 'maximum number of image layers to be copied at once',
      min: 1,
    }),
    quiet: Flags.boolean({ char: 'q', description: 'suppress output information when copying images' }),
    authfile: Flags.string({ description: 'path of the authentication file (used for both sides)' }),
    ...imageFlags('src-'),
    ...imageFlags('dest-'),
    ...retryFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Copy);
    if (flags['sign-by'] !== undefined)
      throw new UsageError('--sign-by is not supported: ferry does not sign images');
    if (flags.all && flags['multi-arch'] !== undefined && flags['multi-arch'] !== 'all') {
      throw new UsageError('--all and --multi-arch are mutually exclusive');
    }
    const format = flags.format === undefined ? undefined : FORMATS[flags.format.toLowerCase()];
    if (flags.format !== undefined && !format) {
      throw new UsageError(`unknown format "${flags.format}": expected oci or v2s2 (v2s1 is not supported)`);
    }
    const compression = parseCompression(
      flags['dest-compress-format'],
      flags['dest-compress'],
      flags['dest-decompress'],
    );

    const source = parseImageName(args.source);
    const destination = parseImageName(args.destination);
    const renderer = createProgressRenderer({
      stream: process.stdout,
      quiet: flags.quiet,
      tty: Boolean(process.stdout.isTTY),
    });
    let pendingStart: CopyProgressEvent | undefined;
    const options: CopyOptions = {
      sourceOptions: transportOptions(flags, 'src-'),
      destinationOptions: transportOptions(flags, 'dest-'),
      onProgress: (e) => {
        // skopeo says "Getting image source signatures" once the source is readable: hold the
        // start event until the copy really begins, so a missing source prints only the error.
        if (e.type === 'start') {
          pendingStart = e;
          return;
        }
        if (pendingStart) renderer.onEvent(pendingStart);
        pendingStart = undefined;
        renderer.onEvent(e);
      },
    };
    const multiArch = (flags.all ? 'all' : flags['multi-arch']) as MultiArch | undefined;
    if (multiArch) options.multiArch = multiArch;
    const platform = overridePlatform(flags);
    if (platform) options.platform = platform;
    if (format) options.format = format;
    if (compression) options.compression = compression;
    if (flags['dest-compress-level'] !== undefined) options.compressionLevel = flags['dest-compress-level'];
    if (flags['preserve-digests']) options.preserveDigests = true;
    if (flags['image-parallel-copies'] !== undefined) options.concurrency = flags['image-parallel-copies'];

    const result = await copyImage(source, destination, options);
    renderer.done();
    if (flags.digestfile !== undefined) await writeDigestFile(flags.digestfile, result.digest);
  }
}

function parseCompression(
  value: string | undefined,
  compress: boolean,
  decompress: boolean,
): Compression | undefined {
  if (compress && decompress)
    throw new UsageError('--dest-compress and --dest-decompress are mutually exclusive');
  if (decompress) {
    if (value !== undefined)
      throw new UsageError('--dest-decompress and --dest-compress-format are mutually exclusive');
    return 'none';
  }
  if (value === undefined) return compress ? 'gzip' : undefined;
  const v = value.toLowerCase();
  if (v === 'gzip' || v === 'zstd') return v;
  throw new UsageError(`unknown --dest-compress-format "${value}": expected gzip or zstd`);
}
