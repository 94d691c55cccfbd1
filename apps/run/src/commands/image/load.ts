import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Flags } from '@oclif/core';
import { copyImage } from '@skiff/oci/copy/copy';
import { SkiffError } from '@skiff/oci/errors';
import { layoutRefNames, ociArchiveRefNames } from '@skiff/oci/image/archive-names';
import { parseReference, withDefaultTag } from '@skiff/oci/reference/reference';
import { openStore } from '@skiff/oci/storage/store';
import { parseContainersStorageReference } from '@skiff/oci/transports/containers-storage';
import { parseImageName } from '@skiff/oci/transports/index';
import type { ImageReference } from '@skiff/oci/transports/types';
import { ToolCommand, UsageError } from '../../base-command.js';
import { createProgressRenderer } from '../../render/progress.js';
import { storeOptions } from '../../store-options.js';

export default class ImageLoad extends ToolCommand {
  static override aliases = ['load'];
  static override summary = 'Load image(s) from a tar archive';
  static override description =
    'Loads images from a docker-archive or oci-archive file (or an OCI layout / dir: directory) into the local store, as podman load: the names recorded in the archive are kept.';
  static override examples = [
    '<%= config.bin %> load -i busybox.tar',
    '<%= config.bin %> load < busybox.tar',
  ];
  static override flags = {
    input: Flags.string({ char: 'i', description: 'Read from specified archive file (default: stdin)' }),
    quiet: Flags.boolean({ char: 'q', description: 'Suppress the output' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ImageLoad);
    let input = flags.input;
    let scratch: string | undefined;
    if (input === undefined) {
      if (process.stdin.isTTY)
        throw new UsageError('cannot read from terminal, use command-line redirection or the --input flag');
      scratch = await mkdtemp(join(tmpdir(), 'skiff-load-'));
      input = join(scratch, 'input.tar');
      await pipeline(process.stdin, createWriteStream(input));
    }
    try {
      const loaded = await this.load(input, flags);
      for (const n of loaded) process.stdout.write(`Loaded image: ${n}\n`);
    } finally {
      if (scratch) await rm(scratch, { recursive: true, force: true });
    }
  }

  private async load(
    input: string,
    flags: Parameters<typeof storeOptions>[0] & { quiet: boolean },
  ): Promise<string[]> {
    const info = await stat(input).catch((err: unknown) => {
      throw new SkiffError(
        'NOT_FOUND',
        `payload does not match any of the supported image formats: ${input}: ${(err as Error).message}`,
      );
    });
    const attempts: Array<{ source: () => Promise<{ ref: ImageReference; names: string[] }> }> = [];
    if (info.isDirectory()) {
      attempts.push({
        source: async () => ({ ref: parseImageName(`oci:${input}`), names: await layoutRefNames(input) }),
      });
      attempts.push({ source: async () => ({ ref: parseImageName(`dir:${input}`), names: [] }) });
    } else {
      attempts.push({
        source: async () => {
          const ref = parseImageName(`docker-archive:${input}`);
          const src = await ref.newSource();
          try {
            return { ref, names: (await src.repoTags?.()) ?? [] };
          } finally {
            await src.close();
          }
        },
      });
      attempts.push({
        source: async () => ({
          ref: parseImageName(`oci-archive:${input}`),
          names: await ociArchiveRefNames(input),
        }),
      });
    }
    const errors: string[] = [];
    for (const attempt of attempts) {
      let found: { ref: ImageReference; names: string[] };
      try {
        found = await attempt.source();
        return await this.copyIn(found.ref, found.names, flags);
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
      }
    }
    throw new SkiffError(
      'INVALID_ARCHIVE',
      `payload does not match any of the supported image formats:\n * ${errors.join('\n * ')}`,
    );
  }

  private async copyIn(
    source: ImageReference,
    rawNames: string[],
    flags: Parameters<typeof storeOptions>[0] & { quiet: boolean },
  ): Promise<string[]> {
    const names: string[] = [];
    for (const n of rawNames) {
      try {
        if (n === '' || !/[/:]/.test(n)) continue;
        names.push(withDefaultTag(parseReference(n)).toString());
      } catch {}
    }
    const temp = `localhost/skiff-load-${process.pid}-${Date.now()}:tmp`;
    const first = names[0] ?? temp;
    const renderer = createProgressRenderer({
      stream: process.stderr,
      quiet: flags.quiet,
      tty: Boolean(process.stderr.isTTY),
    });
    await copyImage(source, parseContainersStorageReference(first, storeOptions(flags)), {
      multiArch: 'system',
      onProgress: (e) => renderer.onEvent(e),
    });
    renderer.done();
    const store = await openStore(storeOptions(flags));
    try {
      const image = store.getImage(first);
      if (!image) throw new SkiffError('INTERNAL', `${first} was loaded but is not in the store`);
      for (const n of names.slice(1)) store.tag(image.id, n);
      if (first === temp) {
        store.untag(temp);
        return [`sha256:${image.id}`];
      }
      return names;
    } finally {
      store.close();
    }
  }
}
