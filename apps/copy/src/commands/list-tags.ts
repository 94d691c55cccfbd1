import { Args } from '@oclif/core';
import { SkiffError } from '@skiff/oci/errors';
import { nameOnly, parseReference } from '@skiff/oci/reference/reference';
import { listRepoTags } from '@skiff/oci/transports/docker';
import { parseImageName } from '@skiff/oci/transports/index';
import { FerryCommand } from '../base-command.js';
import { goJsonIndent } from '../render/inspect.js';
import { imageFlags, retryFlags, transportOptions } from '../transport-flags.js';

export default class ListTags extends FerryCommand {
  static override summary = 'List tags in the transport/repository specified by the SOURCE-IMAGE';
  static override description = 'Prints the repository name and its tags as JSON, following pagination.';
  static override examples = [
    '<%= config.bin %> list-tags docker://127.0.0.1:5000/busybox',
    '<%= config.bin %> list-tags docker-archive:/tmp/busybox.tar',
  ];
  static override args = {
    repository: Args.string({
      required: true,
      description: 'repository (docker://HOST/REPO) or archive (docker-archive:PATH)',
    }),
  };
  static override flags = { ...imageFlags(''), ...retryFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ListTags);
    const ref = parseImageName(args.repository);
    if (ref.transport === 'docker-archive') {
      // As skopeo: every RepoTags entry of the archive, normalised; no Repository field.
      const source = await ref.newSource(transportOptions(flags, ''));
      try {
        const tags = source.repoTags ? await source.repoTags() : [];
        this.log(goJsonIndent({ Tags: tags.map((t) => parseReference(t).toString()) }));
      } finally {
        await source.close();
      }
      return;
    }
    if (ref.transport !== 'docker') {
      throw new SkiffError(
        'UNSUPPORTED',
        `unsupported transport "${ref.transport}" for tag listing: only docker and docker-archive are supported`,
        { hint: 'list-tags takes docker://HOST/REPOSITORY or docker-archive:PATH' },
      );
    }
    // The transport adds :latest to a bare name; list-tags wants the name exactly as given.
    const parsed = parseReference(args.repository.replace(/^docker:\/\//, ''));
    if (parsed.tag !== undefined || parsed.digest !== undefined) {
      // skopeo treats this as a bad reference (exit 1), not a usage error.
      throw new SkiffError(
        'INVALID_REFERENCE',
        `no tag or digest allowed in reference "${args.repository}" for list-tags`,
        { hint: 'list-tags takes a repository: docker://HOST/REPOSITORY' },
      );
    }
    const tags = await listRepoTags(ref, transportOptions(flags, ''));
    this.log(goJsonIndent({ Repository: nameOnly(parsed).toString(), Tags: tags }));
  }
}
