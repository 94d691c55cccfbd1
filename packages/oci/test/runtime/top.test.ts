import { describe, expect, it } from 'vitest';
import {
  formatColumns,
  goDuration,
  idNames,
  mapToInside,
  parseProcess,
  parseTopDescriptors,
  type TopContext,
  topRows,
  ttyName,
} from '../../src/runtime/top.js';

const STAT_INIT =
  '4242 (sleep) S 4200 4242 4242 34816 4242 4194560 100 0 0 0 150 50 0 0 20 0 1 0 1000 1458176 96 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
const STATUS_INIT =
  'Name:\tsleep\nState:\tS (sleeping)\nNSpid:\t4242\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n';
const STAT_CHILD =
  '4250 (we ird) (name) R 4242 4250 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 5 1 0 1500 2048000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
const STATUS_CHILD =
  'Name:\twe ird\nNSpid:\t4250\t7\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\n';

describe('top descriptors', () => {
  it('defaults to podman top columns and accepts words, commas and AIX codes', () => {
    expect(parseTopDescriptors([])).toEqual(['user', 'pid', 'ppid', 'pcpu', 'etime', 'tty', 'time', 'args']);
    expect(parseTopDescriptors(['pid,comm', 'user'])).toEqual(['pid', 'comm', 'user']);
    expect(parseTopDescriptors(['%p', '%C', '%a', '%U', '%t'])).toEqual([
      'pid',
      'pcpu',
      'args',
      'user',
      'etime',
    ]);
  });
  it('rejects an unknown descriptor by name', () => {
    expect(() => parseTopDescriptors(['pid', 'bogus'])).toThrow(/unknown descriptor: bogus/);
    expect(() => parseTopDescriptors(['%Q'])).toThrow(/unknown descriptor: %Q/);
  });
});

describe('parsing /proc', () => {
  it('reads stat past a comm with spaces and parentheses, and NSpid for the in-container PID', () => {
    const p = parseProcess(4250, STAT_CHILD, STATUS_CHILD, 'sh\0-c\0echo hi\0');
    expect(p).toMatchObject({
      hostPid: 4250,
      pid: 7,
      hostPpid: 4242,
      comm: 'we ird) (name',
      state: 'R',
      nice: 5,
      ruid: 1000,
      egid: 100,
      startTicks: 1500,
      args: ['sh', '-c', 'echo hi'],
    });
  });
});

describe('formatting', () => {
  it("prints durations as Go's time.Duration does", () => {
    expect(goDuration(0)).toBe('0s');
    expect(goDuration(1.5e9)).toBe('1.5s');
    expect(goDuration(65e9)).toBe('1m5s');
    expect(goDuration(3723.25e9)).toBe('1h2m3.25s');
    expect(goDuration(12.5e6)).toBe('12.5ms');
  });
  it('names terminals', () => {
    expect(ttyName(0)).toBe('?');
    expect(ttyName((136 << 8) | 3)).toBe('pts/3');
    expect(ttyName((4 << 8) | 1)).toBe('tty1');
  });
  it('maps ids through a user namespace map and names them from passwd', () => {
    expect(mapToInside('         0     100000      65536\n', 100000)).toBe(0);
    expect(mapToInside('         0     100000      65536\n', 101000)).toBe(1000);
    expect(mapToInside('         0     100000      65536\n', 5)).toBe(65534);
    expect(idNames('root:x:0:0::/:/bin/sh\nbob:x:1000:1000::/:/bin/sh\n').get(1000)).toBe('bob');
  });
  it('renders rows ordered by PID with PPID 0 for a parent outside the container, as podman lays them out', () => {
    const init = parseProcess(4242, STAT_INIT, STATUS_INIT, 'sleep\x00300\x00');
    const child = parseProcess(4250, STAT_CHILD, STATUS_CHILD, '');
    const ctx: TopContext = {
      uptimeSec: 30,
      ticksPerSec: 100,
      pageBytes: 4096,
      users: idNames('root:x:0:0::/:/bin/sh\n'),
      groups: new Map(),
      hostUsers: new Map(),
      hostGroups: new Map(),
    };
    const rows = topRows(
      [child, init],
      ['user', 'pid', 'ppid', 'pcpu', 'etime', 'tty', 'time', 'args', 'hpid'],
      ctx,
    );
    expect(rows).toEqual([
      ['USER', 'PID', 'PPID', '%CPU', 'ELAPSED', 'TTY', 'TIME', 'COMMAND', 'HPID'],
      ['root', '1', '0', '10.000', '20s', 'pts/0', '2s', 'sleep 300 ', '4242'],
      ['1000', '7', '1', '0.000', '15s', '?', '0s', '[we ird) (name]', '4250'],
    ]);
    // tabwriter with minwidth 12 and padding 2; the last column unpadded.
    expect(formatColumns([rows[0] as string[], rows[1] as string[]].map((r) => r.slice(0, 3)))).toBe(
      'USER        PID         PPID\nroot        1           0\n',
    );
    expect(
      formatColumns([
        ['ELAPSED', 'X'],
        ['2.205104051s', 'y'],
      ]),
    ).toBe('ELAPSED       X\n2.205104051s  y\n');
  });
});
