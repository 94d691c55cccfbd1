import { describe, expect, it } from 'vitest';
import { containerPorts, parsePortFilter, portLines } from '../../src/runtime/ports.js';

describe('port', () => {
  it('a record without ports (all of them until -p exists) has none', () => {
    expect(containerPorts({ config: { image: 'x', command: [] } })).toEqual([]);
    expect(containerPorts({ config: null })).toEqual([]);
    expect(containerPorts({ config: { ports: 'garbage' } })).toEqual([]);
    expect(portLines([])).toEqual([]);
    // podman prints nothing (exit 0) for a port of a container that publishes none.
    expect(portLines([], { filter: parsePortFilter('80') })).toEqual([]);
  });

  const ports = containerPorts({
    config: {
      ports: [
        { host_ip: '', container_port: 80, host_port: 8080, protocol: 'tcp' },
        { host_ip: '127.0.0.1', container_port: 53, host_port: 5353, range: 2, protocol: 'udp' },
      ],
    },
  });

  it("lists mappings as podman does, ranges expanded, --all's ID prefix", () => {
    expect(portLines(ports)).toEqual([
      '80/tcp -> 0.0.0.0:8080',
      '53/udp -> 127.0.0.1:5353',
      '54/udp -> 127.0.0.1:5354',
    ]);
    expect(portLines(ports, { prefix: 'abc\t' })[0]).toBe('abc\t80/tcp -> 0.0.0.0:8080');
  });

  it('looks up one private port (tcp by default); a port not published is an error', () => {
    expect(portLines(ports, { filter: parsePortFilter('80') })).toEqual(['0.0.0.0:8080']);
    expect(portLines(ports, { filter: parsePortFilter('54/udp') })).toEqual(['127.0.0.1:5354']);
    expect(() => portLines(ports, { filter: parsePortFilter('80/udp'), filterText: '80/udp' })).toThrow(
      'failed to find published port "80/udp"',
    );
    expect(() => parsePortFilter('http')).toThrow(/invalid port "http"/);
    expect(() => parsePortFilter('70000')).toThrow(/invalid port/);
  });
});
