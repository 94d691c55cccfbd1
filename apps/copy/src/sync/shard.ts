import { createHash } from 'node:crypto';

/**
 * `--shard I/N`: worker I of N (0-based, as Kubernetes' JOB_COMPLETION_INDEX) takes the images
 * whose stable hash of the source reference is I modulo N, so N workers with the same input
 * cover every image exactly once, whatever order the registry lists tags in.
 */

export interface Shard {
  index: number;
  count: number;
}

export function parseShard(value: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(value.trim());
  if (!m) throw new Error(`invalid --shard "${value}": expected I/N, e.g. 0/4`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new Error(`invalid --shard "${value}": N must be at least 1`);
  if (index >= count) throw new Error(`invalid --shard "${value}": I must be in 0..${count - 1}`);
  return { index, count };
}

/** Which of `count` shards `key` belongs to (first 48 bits of its SHA-256, modulo count). */
export function shardOf(key: string, count: number): number {
  const hash = createHash('sha256').update(key).digest();
  return hash.readUIntBE(0, 6) % count;
}

export function inShard(key: string, shard: Shard | undefined): boolean {
  return shard === undefined || shardOf(key, shard.count) === shard.index;
}
