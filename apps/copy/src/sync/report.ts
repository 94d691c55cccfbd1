import type { Shard } from './shard.js';

/** What happened to one image (or, with --prune, one destination tag). */
export type SyncAction = 'copied' | 'skipped' | 'failed' | 'deleted';

export interface SyncReportEntry {
  source: string;
  destination: string;
  /** Manifest digest at the destination (copied/skipped), or the deleted one. */
  digest?: string;
  action: SyncAction;
  /** Why it failed, or why a skip is not an up-to-date copy. */
  error?: string;
  /** Bytes of blobs sent. */
  bytes: number;
  /** image, or what it accompanies: signature (cosign tag), referrer (OCI 1.1), tag (prune). */
  kind: 'image' | 'signature' | 'referrer' | 'tag';
}

export interface SyncSummary {
  copied: number;
  skipped: number;
  failed: number;
  deleted: number;
  bytes: number;
  durationMs: number;
}

export interface SyncReport {
  version: 1;
  dryRun: boolean;
  shard?: Shard;
  startedAt: string;
  finishedAt: string;
  summary: SyncSummary;
  images: SyncReportEntry[];
}

/** ferry sync's exit codes (documented in the README). */
export const SYNC_EXIT_OK = 0;
export const SYNC_EXIT_FAILURE = 1;
export const SYNC_EXIT_USAGE = 2;
/** --keep-going: some images failed, others were mirrored. */
export const SYNC_EXIT_PARTIAL = 3;

export function summarize(entries: readonly SyncReportEntry[], durationMs: number): SyncSummary {
  const s: SyncSummary = { copied: 0, skipped: 0, failed: 0, deleted: 0, bytes: 0, durationMs };
  for (const e of entries) {
    s[e.action]++;
    s.bytes += e.bytes;
  }
  return s;
}

/** 0 when nothing failed; 3 when some failed and others succeeded (only with --keep-going); else 1. */
export function exitCodeOf(summary: SyncSummary, keepGoing: boolean): number {
  if (summary.failed === 0) return SYNC_EXIT_OK;
  const succeeded = summary.copied + summary.skipped + summary.deleted;
  return keepGoing && succeeded > 0 ? SYNC_EXIT_PARTIAL : SYNC_EXIT_FAILURE;
}

function formatSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** One line per finished image, as the run goes. */
export function formatEntry(e: SyncReportEntry, dryRun: boolean): string {
  const what = e.kind === 'image' ? '' : ` (${e.kind})`;
  switch (e.action) {
    case 'copied':
      return dryRun
        ? `Would copy ${e.source} to ${e.destination}${what}`
        : `Copied ${e.source} to ${e.destination}${what} ${e.digest ?? ''} (${formatSize(e.bytes)})`;
    case 'skipped':
      return `Skipped ${e.source || e.destination}${what}: ${e.error ?? `${e.destination} is up to date`}`;
    case 'deleted':
      return `${dryRun ? 'Would delete' : 'Deleted'} ${e.destination} (${e.digest ?? ''}): no longer in the source`;
    case 'failed':
      return `Failed ${e.source || e.destination}${what}: ${e.error ?? 'unknown error'}`;
  }
}

/** The closing summary: counts, bytes, time. */
export function formatSummary(report: SyncReport): string {
  const s = report.summary;
  const verb = report.dryRun ? 'Would sync' : 'Synced';
  const shard = report.shard ? ` (shard ${report.shard.index}/${report.shard.count})` : '';
  return (
    `${verb} ${s.copied + s.skipped + s.failed} images${shard}: ${s.copied} copied, ${s.skipped} skipped, ` +
    `${s.failed} failed${s.deleted ? `, ${s.deleted} deleted` : ''}; ${formatSize(s.bytes)} sent in ${(s.durationMs / 1000).toFixed(1)}s`
  );
}

/** Write the JSON report atomically (temp file in the same directory, fsync, rename). */
export async function writeReport(file: string, report: SyncReport): Promise<void> {
  const { open, rename, rm } = await import('node:fs/promises');
  const { dirname, join, basename } = await import('node:path');
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(`${JSON.stringify(report, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
