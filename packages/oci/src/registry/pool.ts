import { RegistryClient, type RegistryClientOptions, SharedEndpoint } from './client.js';

/**
 * Registry clients shared by the copies of one job (a sync run): one token cache per endpoint
 * and set of credentials, and one connection pool and one ping per endpoint, instead of one per
 * image. Pass it as
 * TransportOptions.clientPool; whoever made the pool closes it when the job ends.
 */
export class RegistryClientPool {
  private readonly clients = new Map<string, RegistryClient>();
  /**
   * Connections and ping per endpoint and TLS settings, shared by its clients (which differ in
   * credentials, and so in repository when auth files name repositories).
   */
  private readonly endpoints = new Map<string, SharedEndpoint>();
  /** endpoint → blob digest → a repository known to hold it (for cross-repository mounts). */
  private readonly blobs = new Map<string, Map<string, string>>();

  /** Remember that `repo` on `endpoint` holds the blob (written, mounted or found there). */
  noteBlob(endpoint: string, repo: string, digest: string): void {
    let known = this.blobs.get(endpoint);
    if (!known) {
      known = new Map();
      this.blobs.set(endpoint, known);
    }
    known.set(digest, repo);
  }

  /** A repository other than `repo` on `endpoint` known to hold the blob, to mount it from. */
  blobElsewhere(endpoint: string, digest: string, repo: string): string | undefined {
    const from = this.blobs.get(endpoint)?.get(digest);
    return from !== undefined && from !== repo ? from : undefined;
  }

  /** The pooled client for these options (same key → same client). */
  client(key: string, options: RegistryClientOptions): RegistryClient {
    let c = this.clients.get(key);
    if (!c) {
      const endpointKey = JSON.stringify([
        options.endpoint,
        options.insecure ?? false,
        options.tlsVerify ?? null,
        options.certDir ?? null,
      ]);
      let endpoint = this.endpoints.get(endpointKey);
      if (!endpoint) {
        endpoint = new SharedEndpoint();
        this.endpoints.set(endpointKey, endpoint);
      }
      c = new RegistryClient({ ...options, pooled: true, shared: endpoint });
      this.clients.set(key, c);
    }
    return c;
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    const endpoints = [...this.endpoints.values()];
    this.clients.clear();
    this.endpoints.clear();
    await Promise.allSettled([...all.map((c) => c.dispose()), ...endpoints.map((e) => e.dispose())]);
  }
}
