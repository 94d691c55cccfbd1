import { SkiffError } from '../errors.js';
import { containersStorageTransport } from './containers-storage.js';
import { dirTransport } from './dir.js';
import { dockerTransport } from './docker.js';
import { dockerArchiveTransport } from './docker-archive.js';
import { ociArchiveTransport } from './oci-archive.js';
import { ociTransport } from './oci-layout.js';
import type { ImageReference, Transport } from './types.js';

/** The transports `transport:details` names can use, as the containers tools spell them. */
const TRANSPORTS: ReadonlyMap<string, Transport> = new Map(
  [
    dockerTransport,
    ociTransport,
    ociArchiveTransport,
    dockerArchiveTransport,
    dirTransport,
    containersStorageTransport,
  ].map((t) => [t.name, t]),
);

export function transportNames(): string[] {
  return [...TRANSPORTS.keys()];
}

/**
 * Parse an image name as skopeo does: `TRANSPORT:DETAILS`, e.g. `docker://quay.io/a/b:1`,
 * `oci:/tmp/layout:latest`, `docker-archive:/tmp/a.tar`. A missing or unknown transport is
 * a clear error that lists the known ones.
 */
export function parseImageName(name: string): ImageReference {
  const colon = name.indexOf(':');
  const known = transportNames().join(', ');
  if (colon <= 0) {
    throw new SkiffError('UNKNOWN_TRANSPORT', `invalid image name "${name}": expected TRANSPORT:DETAILS`, {
      hint: `known transports: ${known} (e.g. docker://${name})`,
    });
  }
  const transportName = name.slice(0, colon);
  const transport = TRANSPORTS.get(transportName);
  if (!transport) {
    throw new SkiffError(
      'UNKNOWN_TRANSPORT',
      `invalid image name "${name}": unknown transport "${transportName}"`,
      {
        hint: `known transports: ${known}`,
      },
    );
  }
  return transport.parseReference(name.slice(colon + 1));
}
