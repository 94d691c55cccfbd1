/**
 * `skiff port`: a container's published ports, read from its record. Networks are none|host for
 * now, so records hold no ports yet; when `-p` lands it is expected to keep podman's
 * PortMapping list (`host_ip`, `container_port`, `host_port`, `range`, `protocol`) under the
 * stored config's `ports`, which this module reads (tolerantly: anything else is no ports).
 */

import { z } from 'zod';
import { SkiffError } from '../errors.js';
import type { ContainerRecord } from './containers.js';

const portMappingSchema = z.object({
  host_ip: z.string().optional(),
  container_port: z.number().int().min(0).max(65535),
  host_port: z.number().int().min(0).max(65535),
  range: z.number().int().min(1).optional(),
  protocol: z.string().optional(),
});

export type PortMapping = z.infer<typeof portMappingSchema>;

/** The published ports of a container's record (empty when it has none). */
export function containerPorts(rec: Pick<ContainerRecord, 'config'>): PortMapping[] {
  const cfg = rec.config;
  if (!cfg || typeof cfg !== 'object' || !('ports' in cfg)) return [];
  const parsed = z.array(portMappingSchema).safeParse((cfg as { ports: unknown }).ports);
  return parsed.success ? parsed.data : [];
}

/** `PRIVATE_PORT[/PROTO]` → port and protocol (tcp by default). */
export function parsePortFilter(value: string): { port: number; protocol: string } {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(value);
  const port = m ? Number(m[1]) : Number.NaN;
  if (!m || port < 1 || port > 65535)
    throw new SkiffError(
      'INVALID_ARGUMENT',
      `invalid port "${value}": expected PORT[/PROTO] (1-65535, tcp|udp|sctp)`,
    );
  return { port, protocol: m[2] ?? 'tcp' };
}

function hostIp(m: PortMapping): string {
  return m.host_ip ? m.host_ip : '0.0.0.0';
}

/** Each published port, expanded over ranges: `{private, protocol, host}` (host as IP:PORT). */
export function expandPorts(
  ports: readonly PortMapping[],
): Array<{ port: number; protocol: string; host: string }> {
  const out: Array<{ port: number; protocol: string; host: string }> = [];
  for (const m of ports) {
    for (const proto of (m.protocol ?? 'tcp').split(',')) {
      for (let i = 0; i < (m.range ?? 1); i++)
        out.push({ port: m.container_port + i, protocol: proto, host: `${hostIp(m)}:${m.host_port + i}` });
    }
  }
  return out;
}

/**
 * podman port's lines: `PRIVATE/PROTO -> HOSTIP:PORT` for each mapping (with `prefix`, e.g. the
 * container ID and a tab for --all), or just `HOSTIP:PORT` for the mappings of `filter`.
 * NOT_FOUND when a filter matches none of a container's published ports.
 */
export function portLines(
  ports: readonly PortMapping[],
  options: { filter?: { port: number; protocol: string }; filterText?: string; prefix?: string } = {},
): string[] {
  const all = expandPorts(ports);
  const f = options.filter;
  // Like podman: a container without published ports reports nothing, even for a given port.
  if (f && all.length > 0) {
    const hits = all.filter((p) => p.port === f.port && p.protocol === f.protocol).map((p) => p.host);
    if (hits.length === 0)
      throw new SkiffError(
        'NOT_FOUND',
        `failed to find published port "${options.filterText ?? `${f.port}/${f.protocol}`}"`,
      );
    return hits;
  }
  if (f) return [];
  return all.map((p) => `${options.prefix ?? ''}${p.port}/${p.protocol} -> ${p.host}`);
}
