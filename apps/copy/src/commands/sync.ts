import { Args, Errors, Flags } from '@oclif/core';
import type { Compression, ManifestFormat } from '@skiff/oci/spec/media-types';
import { FerryCommand, UsageError } from '../base-command.js';
import { jobArguments, kubernetesJob } from '../sync/job.js';
import type { SyncDestinationTransport, SyncSourceTransport } from '../sync/naming.js';
import { exitCodeOf, formatEntry, formatSummary, SYNC_EXIT_OK, writeReport } from '../sync/report.js';
import { DEFAULT_PARALLEL, readSyncConfigText, runSync, type SyncOptions } from '../sync/run.js';
import { parseShard } from '../sync/shard.js';
import { imageFlags, overridePlatform, retryFlags, transportOptions } from '../transport-flags.js';

export default class Sync extends FerryCommand {
  static override summary = 'Synchronize one or more images from one location to another';
  static override description = [
    'Copies every image found at SOURCE to DESTINATION with the copy engine, skipping images already',
    'up to date (one HEAD each). Exit codes: 0 all mirrored, 1 failed, 2 usage error, 3 partial failure',
    '(--keep-going: some images failed, the others were mirrored).',
  ].join('\n');
  static override examples = [
    '<%= config.bin %> sync --src docker --dest dir --scoped registry.example.com/busybox /media/usb',
    '<%= config.bin %> sync --src yaml --dest docker --keep-going --report report.json sync.yml mirror.local:5000/mirror',
    '<%= config.bin %> sync --src yaml --dest docker --print-job 4 --job-image ferry:latest sync.yml mirror.local:5000',
  ];
  static override args = {
    source: Args.string({ required: true, description: 'SOURCE (repository, directory or YAML file)' }),
    destination: Args.string({
      required: true,
      description: 'DESTINATION (registry[/namespace] or directory)',
    }),
  };
  static override flags = {
    src: Flags.string({
      char: 's',
      description: 'SOURCE transport type',
      options: ['docker', 'dir', 'yaml'],
      required: true,
    }),
    dest: Flags.string({
      char: 'd',
      description: 'DESTINATION transport type',
      options: ['docker', 'dir', 'oci'],
      required: true,
    }),
    scoped: Flags.boolean({
      description: 'Images at DESTINATION are prefix using the full source image path as scope',
    }),
    all: Flags.boolean({ char: 'a', description: 'Copy all images if SOURCE-IMAGE is a list' }),
    format: Flags.string({
      char: 'f',
      description: 'MANIFEST TYPE (oci, v2s2) to use when syncing image(s) to a destination',
    }),
    'dest-compress-format': Flags.string({
      description: 'compression format to use for the destination (gzip, zstd)',
    }),
    'preserve-digests': Flags.boolean({ description: 'Preserve digests of images and lists' }),
    'remove-signatures': Flags.boolean({
      description: 'Do not copy signatures, attestations and referrers from SOURCE images',
    }),
    'sign-by': Flags.string({ description: 'Sign the image using a GPG key with the specified FINGERPRINT' }),
    'keep-going': Flags.boolean({
      description: 'Do not abort the sync if any image copy fails (exit 3 on partial failure)',
    }),
    'dry-run': Flags.boolean({ description: 'Run without actually copying or deleting data' }),
    parallel: Flags.integer({ description: `images copied at once (default ${DEFAULT_PARALLEL})`, min: 1 }),
    'image-parallel-copies': Flags.integer({
      description: 'maximum number of image layers to be copied at once',
      min: 1,
    }),
    prune: Flags.boolean({
      description: 'delete destination tags no longer in the source (synced repositories only)',
    }),
    'max-delete': Flags.integer({
      description: 'with --prune: delete nothing when more than N tags would go',
      min: 0,
    }),
    report: Flags.string({ description: 'write a JSON report (one entry per image) to FILE' }),
    shard: Flags.string({ description: 'mirror only shard I of N (I/N, 0-based) of the image list' }),
    'print-job': Flags.integer({
      description: 'print a Kubernetes Indexed Job running this sync as N shards, and exit',
      min: 1,
    }),
    'job-image': Flags.string({
      description: 'with --print-job: the container image providing ferry',
      default: 'ferry:latest',
    }),
    'job-name': Flags.string({ description: 'with --print-job: the Job name', default: 'ferry-sync' }),
    quiet: Flags.boolean({ char: 'q', description: 'print only the summary' }),
    authfile: Flags.string({ description: 'path of the authentication file (used for both sides)' }),
    ...imageFlags('src-'),
    ...imageFlags('dest-'),
    ...retryFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Sync);
    const src = flags.src as SyncSourceTransport;
    const dest = flags.dest as SyncDestinationTransport;
    if (flags['sign-by'] !== undefined)
      throw new UsageError('--sign-by is not supported: ferry does not sign images');
    if (src === 'dir' && dest !== 'docker')
      throw new UsageError(`sync from dir to ${dest} is not allowed: use --dest docker`);
    if (flags.prune && dest !== 'docker') throw new UsageError('--prune needs --dest docker');
    if (flags['max-delete'] !== undefined && !flags.prune) throw new UsageError('--max-delete needs --prune');
    const format =
      flags.format === undefined
        ? undefined
        : ({ oci: 'oci', v2s2: 'v2s2' } as Record<string, ManifestFormat>)[flags.format.toLowerCase()];
    if (flags.format !== undefined && !format)
      throw new UsageError(`unknown format "${flags.format}": expected oci or v2s2`);
    const cf = flags['dest-compress-format']?.toLowerCase();
    if (cf !== undefined && cf !== 'gzip' && cf !== 'zstd')
      throw new UsageError(`unknown --dest-compress-format "${cf}": expected gzip or zstd`);
    let shard: SyncOptions['shard'];
    try {
      if (flags.shard !== undefined) shard = parseShard(flags.shard);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }

    if (flags['print-job'] !== undefined) {
      const config = src === 'yaml' ? await readSyncConfigText(args.source) : undefined;
      const argv = jobArguments(this.argv);
      process.stdout.write(
        kubernetesJob({
          name: flags['job-name'],
          image: flags['job-image'],
          shards: flags['print-job'],
          args: argv,
          ...(config !== undefined ? { config: { argument: args.source, text: config } } : {}),
        }),
      );
      return;
    }

    const options: SyncOptions = {
      sourceTransport: src,
      destinationTransport: dest,
      source: args.source,
      destination: args.destination,
      scoped: flags.scoped,
      all: flags.all,
      preserveDigests: flags['preserve-digests'],
      removeSignatures: flags['remove-signatures'],
      keepGoing: flags['keep-going'],
      dryRun: flags['dry-run'],
      prune: flags.prune,
      sourceOptions: transportOptions(flags, 'src-'),
      destinationOptions: transportOptions(flags, 'dest-'),
      onEvent: (e) => {
        if (e.type === 'entry' && !flags.quiet)
          process.stdout.write(`${formatEntry(e.entry, flags['dry-run'])}\n`);
        if (e.type === 'rate-limited' && !flags.quiet)
          process.stderr.write(
            `Rate limited by ${e.registries.join(', ')}: waiting ${(e.delayMs / 1000).toFixed(1)}s before more work there\n`,
          );
      },
    };
    const platform = overridePlatform(flags);
    if (platform) options.platform = platform;
    if (format) options.format = format;
    if (cf) options.compression = cf as Compression;
    if (flags.parallel !== undefined) options.parallel = flags.parallel;
    if (flags['image-parallel-copies'] !== undefined)
      options.imageParallelCopies = flags['image-parallel-copies'];
    if (flags['max-delete'] !== undefined) options.maxDelete = flags['max-delete'];
    if (shard) options.shard = shard;

    const report = await runSync(options);
    if (flags.report !== undefined) await writeReport(flags.report, report);
    process.stdout.write(`${formatSummary(report)}\n`);
    const code = exitCodeOf(report.summary, flags['keep-going']);
    if (code !== SYNC_EXIT_OK) {
      const failed = report.images.find((e) => e.action === 'failed');
      if (!flags['keep-going'] && failed) process.stderr.write(`Error: ${failed.error ?? 'sync failed'}\n`);
      throw new Errors.ExitError(code);
    }
  }
}
