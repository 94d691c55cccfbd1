import { RegistryClient, type RegistryClientOptions } from './client.js';

/**
 * Registry clients shared by the copies of one job (a sync run): one connection pool, one ping
 * and one token cache per endpoint and set of credentials, instead of one per image. Pass it as
 * TransportOptions.clientPool; whoever made the pool closes it when the job ends.
 */
export class RegistryClientPool {
  private readonly clients = new Map<string, RegistryClient>();

  /** The pooled client for these options (same key → same client). */
  client(key: string, options: RegistryClientOptions): RegistryClient {
    let c = this.clients.get(key);
    if (!c) {
      c = new RegistryClient({ ...options, pooled: true });
      this.clients.set(key, c);
    }
    return c;
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map((c) => c.dispose()));
  }
}
