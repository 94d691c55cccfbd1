import { describe, expect, it } from 'vitest';
import { detachScanner, frameReader, parseDetachKeys } from '../../src/runtime/attach.js';

describe('parseDetachKeys', () => {
  it('reads podman’s spellings', () => {
    expect([...parseDetachKeys('ctrl-p,ctrl-q')]).toEqual([16, 17]);
    expect([...parseDetachKeys('ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_')]).toEqual([
      0, 27, 28, 29, 30, 31,
    ]);
    expect([...parseDetachKeys('a,ctrl-A')]).toEqual([97, 1]);
    expect([...parseDetachKeys('')]).toEqual([]);
  });
  it('rejects unknown keys with the input named', () => {
    expect(() => parseDetachKeys('ctrl-1')).toThrow(/invalid detach keys "ctrl-1"/);
    expect(() => parseDetachKeys('alt-x')).toThrow(/unknown key "alt-x"/);
  });
});

describe('detachScanner', () => {
  const keys = parseDetachKeys('ctrl-p,ctrl-q');
  it('passes input on until the sequence, then detaches without passing it', () => {
    const scan = detachScanner(keys);
    expect(scan(Buffer.from('ab'))).toEqual({ forward: Buffer.from('ab'), detach: false });
    expect(scan(Buffer.from('c\x10\x11d'))).toEqual({ forward: Buffer.from('c'), detach: true });
  });
  it('holds a partial match across chunks and releases it when the sequence breaks', () => {
    const scan = detachScanner(keys);
    expect(scan(Buffer.from('x\x10')).forward).toEqual(Buffer.from('x'));
    expect(scan(Buffer.from('y'))).toEqual({ forward: Buffer.from('\x10y'), detach: false });
    expect(scan(Buffer.from('\x10')).forward.length).toBe(0);
    expect(scan(Buffer.from('\x10\x11'))).toEqual({ forward: Buffer.from('\x10'), detach: true });
  });
  it('with no keys never detaches', () => {
    const scan = detachScanner(new Uint8Array());
    expect(scan(Buffer.from('\x10\x11'))).toEqual({ forward: Buffer.from('\x10\x11'), detach: false });
  });
});

describe('frameReader', () => {
  it('splits length-prefixed packets however the bytes are chunked', () => {
    const packets: string[] = [];
    const feed = frameReader((p) => packets.push(p.toString('latin1')));
    const frame = (s: string) => Buffer.concat([Buffer.from([0, 0, 0, s.length]), Buffer.from(s, 'latin1')]);
    const all = Buffer.concat([frame('\x02hello'), frame('\x03err'), frame('\x00')]);
    for (let i = 0; i < all.length; i += 3) feed(all.subarray(i, i + 3));
    expect(packets).toEqual(['\x02hello', '\x03err', '\x00']);
  });
});
