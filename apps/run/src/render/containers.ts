import {
  type ContainerInspectData,
  type ContainerSummary,
  statusText,
} from '@skiff/oci/runtime/container-info';
import { goStruct } from '@skiff/oci/template/go-template';
import { humanDuration, timeAgo } from './units.js';

/**
 * `skiff ps` rows with the fields podman's --format templates use, its JSON, and the loop the
 * multi-container commands share (print each result, report each failure, fail at the end).
 */

export interface ContainerRow {
  ID: string;
  Id: string;
  Image: string;
  ImageID: string;
  Command: string;
  Created: string;
  CreatedAt: string;
  RunningFor: string;
  Status: string;
  State: string;
  Ports: string;
  Names: string;
  Labels: Record<string, string>;
  Mounts: string;
  ExitCode: number;
  Exited: boolean;
  Pid: number;
  Size: string;
}

export const CONTAINER_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Id: 'CONTAINER ID',
  RunningFor: 'CREATED',
  CreatedAt: 'CREATED AT',
  ImageID: 'IMAGE ID',
};

function commandLine(command: string[], noTrunc: boolean): string {
  const text = command.join(' ');
  return noTrunc || text.length <= 20 ? text : `${text.slice(0, 17)}...`;
}

export function containerRows(
  list: ContainerSummary[],
  options: { noTrunc?: boolean; now?: number } = {},
): ContainerRow[] {
  const now = options.now ?? Date.now();
  return list.map(({ rec, config, image, command }) =>
    goStruct<ContainerRow>(
      {
        ID: options.noTrunc ? rec.id : rec.id.slice(0, 12),
        Id: rec.id,
        Image: image,
        ImageID: rec.imageId,
        Command: commandLine(command, Boolean(options.noTrunc)),
        Created: timeAgo(rec.created, now),
        CreatedAt: rec.created.toISOString(),
        RunningFor: timeAgo(rec.created, now),
        Status: statusText(rec, (d) => timeAgo(d, now), humanDuration, now),
        State: rec.status,
        Ports: '',
        Names: rec.name,
        Labels: config.labels ?? {},
        Mounts: '',
        ExitCode: rec.exitCode ?? 0,
        Exited: rec.status === 'exited',
        Pid: rec.pid ?? 0,
        Size: '',
      },
      'entities.ListContainer',
    ),
  );
}

/** `ps --format json`: podman's ListContainer fields. */
export function containersJson(list: ContainerSummary[]): unknown[] {
  return list.map(({ rec, config, image, command }) => ({
    AutoRemove: config.autoRemove ?? false,
    Command: command,
    Created: Math.floor(rec.created.getTime() / 1000),
    CreatedAt: timeAgo(rec.created),
    Exited: rec.status === 'exited',
    ExitedAt: rec.finished ? Math.floor(rec.finished.getTime() / 1000) : -62135596800,
    ExitCode: rec.exitCode ?? 0,
    Id: rec.id,
    Image: image,
    ImageID: rec.imageId,
    IsInfra: false,
    Labels: config.labels && Object.keys(config.labels).length ? config.labels : null,
    Mounts: [],
    Names: [rec.name],
    Namespaces: {},
    Networks: [],
    Pid: rec.pid ?? 0,
    Pod: '',
    PodName: '',
    Ports: null,
    Restarts: rec.restarts,
    Size: null,
    StartedAt: rec.started ? Math.floor(rec.started.getTime() / 1000) : -62135596800,
    State: rec.status,
    Status: statusText(rec, (d) => timeAgo(d), humanDuration),
  }));
}

export function inspectStruct(d: ContainerInspectData): ContainerInspectData {
  return goStruct({ ...d }, 'define.InspectContainerData');
}

/**
 * Run `fn` for each container name: print what it returns (one line), report each failure as
 * `Error: …` on stderr and go on; throw the last failure at the end (exit 125, as podman).
 */
export async function eachContainer(
  names: string[],
  fn: (name: string) => Promise<string | undefined>,
): Promise<void> {
  let last: unknown;
  for (const name of names) {
    try {
      const line = await fn(name);
      if (line !== undefined) process.stdout.write(`${line}\n`);
    } catch (err) {
      if (last !== undefined) process.stderr.write(`Error: ${(last as Error).message}\n`);
      last = err;
    }
  }
  if (last !== undefined) throw last;
}
