import { type ImageSummary, splitName } from '@skiff/oci/image/image-summary';
import { goStruct } from '@skiff/oci/template/go-template';
import { goTime, humanSize, shortId, timeAgo } from './units.js';

/**
 * `skiff images` rows: one per name (repository:tag), `<none>` for a dangling image, with the
 * fields podman's --format templates use.
 */

export interface ImageRow {
  ID: string;
  Id: string;
  Repository: string;
  Tag: string;
  Digest: string;
  Digests: string[];
  Created: string;
  CreatedSince: string;
  CreatedAt: string;
  CreatedTime: string;
  Size: string;
  VirtualSize: string;
  SharedSize: string;
  Labels: Record<string, string>;
  Names: string[];
  History: string;
  Containers: number;
  Dangling: boolean;
  ReadOnly: boolean;
  IsReadOnly: string;
}

export const IMAGE_HEADERS: Record<string, string> = {
  ID: 'IMAGE ID',
  Id: 'IMAGE ID',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  CreatedTime: 'CREATED AT',
  ReadOnly: 'R/O',
  IsReadOnly: 'R/O',
};

export function imageRows(
  summaries: ImageSummary[],
  options: { noTrunc?: boolean; now?: number } = {},
): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const s of summaries) {
    const names = s.repoTags.length > 0 ? s.repoTags : [{ repository: '<none>', tag: '<none>' }];
    for (const { repository, tag } of names) {
      const since = timeAgo(s.created, options.now);
      rows.push(
        goStruct<ImageRow>(
          {
            ID: shortId(s.id, options.noTrunc),
            Id: s.id,
            Repository: repository,
            Tag: tag,
            Digest: s.digest,
            Digests: s.repoDigests.map((d) => d.slice(d.indexOf('@') + 1)),
            Created: since,
            CreatedSince: since,
            CreatedAt: goTime(s.created),
            CreatedTime: goTime(s.created),
            Size: humanSize(s.sizeBytes),
            VirtualSize: humanSize(s.sizeBytes),
            SharedSize: humanSize(0),
            Labels: s.labels,
            Names: s.names,
            History: s.names.join(', '),
            Containers: 0,
            Dangling: s.dangling,
            ReadOnly: false,
            IsReadOnly: 'false',
          },
          'images.imageReporter',
        ),
      );
    }
  }
  return rows;
}

/** `--format json`: one entry per image, podman's ImageSummary fields. */
export function imagesJson(summaries: ImageSummary[]): unknown[] {
  return summaries.map((s) => ({
    Id: s.id,
    ParentId: '',
    RepoTags: s.names.length > 0 ? s.names : null,
    RepoDigests: s.repoDigests,
    Size: s.sizeBytes,
    SharedSize: 0,
    VirtualSize: s.sizeBytes,
    Labels: Object.keys(s.labels).length > 0 ? s.labels : null,
    Containers: 0,
    Names: s.names.length > 0 ? s.names : null,
    Digest: s.digest,
    History: s.names.length > 0 ? s.names : null,
    Created: s.created ? Math.floor(s.created.getTime() / 1000) : 0,
    CreatedAt: s.created ? s.created.toISOString().replace('.000Z', 'Z') : '0001-01-01T00:00:00Z',
    Dangling: s.dangling,
  }));
}

export { splitName };
