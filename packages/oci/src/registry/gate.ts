import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Registry-wide backoff: when any request to a registry is answered 429, every request to that
 * registry (from every client sharing the gate) waits until its Retry-After has passed, and the
 * sync scheduler starts no new work there. Pass one gate through TransportOptions.registryGate
 * to share it between the clients of a job.
 */
export class RegistryGate {
  private readonly until = new Map<string, number>();
  private readonly strikes = new Map<string, number>();

  constructor(
    private readonly defaultDelayMs = 1000,
    private readonly maxDelayMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Close `registry` for `retryAfterMs` (or an exponential default); returns the delay used. */
  block(registry: string, retryAfterMs?: number): number {
    const strikes = (this.strikes.get(registry) ?? 0) + 1;
    this.strikes.set(registry, strikes);
    const delay = Math.min(retryAfterMs ?? this.defaultDelayMs * 2 ** (strikes - 1), this.maxDelayMs);
    const until = this.now() + delay;
    if (until > (this.until.get(registry) ?? 0)) this.until.set(registry, until);
    return delay;
  }

  /** A request to `registry` succeeded: the next 429 starts the default backoff over. */
  clear(registry: string): void {
    this.strikes.delete(registry);
  }

  /** Milliseconds until every one of `registries` is open. */
  waitMs(registries: readonly string[]): number {
    const now = this.now();
    return Math.max(0, ...registries.map((r) => (this.until.get(r) ?? 0) - now));
  }

  async wait(registries: readonly string[], signal?: AbortSignal): Promise<void> {
    for (let ms = this.waitMs(registries); ms > 0; ms = this.waitMs(registries)) {
      await sleep(ms, undefined, signal ? { signal } : undefined);
    }
  }
}
