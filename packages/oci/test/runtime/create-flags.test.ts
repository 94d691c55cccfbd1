import { describe, expect, it } from 'vitest';
import { parseContainerFilters, statusText } from '../../src/runtime/container-info.js';
import type { ContainerRecord } from '../../src/runtime/containers.js';
import { parseCreateFlags, parseRestartPolicy } from '../../src/runtime/create-flags.js';

const ctx = { hostEnv: { HOME: '/root', PFX_A: '1', PFX_B: '2' }, cwd: '/work' };

describe('parseCreateFlags', () => {
  it('maps flags to spec options and the stored config', () => {
    const p = parseCreateFlags(
      {
        env: ['A=1', 'HOME', 'PFX_*'],
        volume: ['./data:/data:ro'],
        tmpfs: ['/scratch'],
        entrypoint: '["sh","-c"]',
        label: ['app=web', 'flag'],
        'stop-signal': 'SIGINT',
        'stop-timeout': '3',
        'security-opt': ['no-new-privileges', 'seccomp=unconfined'],
        memory: '64m',
        rm: true,
      },
      ['echo hi'],
      ctx,
    );
    expect(p.options.spec).toMatchObject({
      command: ['echo hi'],
      entrypoint: ['sh', '-c'],
      env: ['A=1', 'HOME=/root', 'PFX_A=1', 'PFX_B=2'],
      mounts: [
        { type: 'bind', source: '/work/data', target: '/data', readOnly: true },
        { type: 'tmpfs', target: '/scratch' },
      ],
      noNewPrivileges: true,
      memoryBytes: 64 * 1024 * 1024,
      stopSignal: '2',
      autoRemove: true,
      network: 'none',
    });
    expect(p.options.seccomp).toBe('unconfined');
    expect(p.stored).toMatchObject({
      labels: { app: 'web', flag: '' },
      stopSignal: 2,
      stopTimeoutSec: 3,
      autoRemove: true,
      restart: { policy: 'no', maxRetries: 0 },
    });
  });

  it('drops cgroup limits with a warning where they cannot be applied', () => {
    const p = parseCreateFlags({ memory: '64m', 'pids-limit': '10' }, [], {
      ...ctx,
      cgroupLimitsUnavailable: true,
    });
    expect(p.options.spec?.memoryBytes).toBeUndefined();
    expect(p.options.spec?.pidsLimit).toBeUndefined();
    expect(p.warnings.join()).toContain('Resource limits are not supported');
  });

  it.each([
    [{ memory: 'lots' }, /invalid --memory "lots"/],
    [{ 'pids-limit': 'x' }, /--pids-limit/],
    [{ 'stop-signal': 'SIGNOPE' }, /--stop-signal/],
    [{ 'stop-timeout': '-1' }, /--stop-timeout/],
    [{ 'log-driver': 'syslog' }, /--log-driver/],
    [{ network: 'bridge' }, /network mode "bridge"/],
    [{ 'security-opt': ['bogus'] }, /--security-opt/],
    [{ mount: ['type=bind,target=/x'] }, /--mount/],
    [{ restart: 'sometimes' }, /--restart/],
    [{ restart: 'always', rm: true }, /conflicts/],
    [{ hostname: 'bad host' }, /--hostname/],
  ])('rejects %j', (flags, message) => {
    expect(() => parseCreateFlags(flags, [], ctx)).toThrow(message);
  });

  it('parses restart policies', () => {
    expect(parseRestartPolicy('on-failure:3')).toEqual({ policy: 'on-failure', maxRetries: 3 });
    expect(parseRestartPolicy('always')).toEqual({ policy: 'always', maxRetries: 0 });
    expect(() => parseRestartPolicy('always:2')).toThrow(/on-failure/);
  });
});

function rec(p: Partial<ContainerRecord>): ContainerRecord {
  return {
    id: 'a'.repeat(64),
    name: 'web',
    imageId: 'b'.repeat(64),
    status: 'running',
    created: new Date(0),
    restarts: 0,
    runtime: '/usr/bin/runc',
    bundle: '/run/x',
    config: { labels: { app: 'web' } },
    ...p,
  };
}

describe('ps filters and status', () => {
  const summary = (r: ContainerRecord) => ({
    rec: r,
    config: r.config as { labels: Record<string, string> },
    image: 'localhost/bb:1',
    command: [],
  });
  it('ORs one key, ANDs different keys', () => {
    const f = parseContainerFilters(['status=running', 'status=created', 'label=app=web']);
    expect(f(summary(rec({})))).toBe(true);
    expect(f(summary(rec({ status: 'exited' })))).toBe(false);
    expect(f(summary(rec({ config: { labels: { app: 'db' } } })))).toBe(false);
    expect(parseContainerFilters(['ancestor=localhost/bb'])(summary(rec({})))).toBe(true);
    expect(parseContainerFilters(['name=^we'])(summary(rec({})))).toBe(true);
    expect(() => parseContainerFilters(['status=sleeping'])).toThrow(/not a valid status/);
    expect(() => parseContainerFilters(['color=red'])).toThrow(/invalid filter/);
  });
  it("podman's STATUS words", () => {
    const ago = () => '2 minutes ago';
    const dur = () => '3 seconds';
    expect(statusText(rec({ started: new Date() }), ago, dur)).toBe('Up 3 seconds');
    expect(statusText(rec({ status: 'exited', exitCode: 3 }), ago, dur)).toBe('Exited (3) 2 minutes ago');
    expect(statusText(rec({ status: 'created' }), ago, dur)).toBe('Created');
  });
});

describe('parseCreateFlags --userns', () => {
  const rootless = { caller: { uid: 1001, gid: 1002 }, size: { uids: 65537, gids: 65537 } };

  it('keep-id maps the caller onto its own ids and runs the command as the caller', () => {
    const p = parseCreateFlags({ userns: 'keep-id' }, [], { ...ctx, rootless });
    expect(p.options.spec?.user).toBe('1001:1002');
    expect(p.options.spec?.userns?.uidMappings).toEqual([
      { containerID: 0, hostID: 1, size: 1001 },
      { containerID: 1001, hostID: 0, size: 1 },
      { containerID: 1002, hostID: 1002, size: 64535 },
    ]);
    // -u wins over keep-id's default user.
    expect(
      parseCreateFlags({ userns: 'keep-id', user: '0' }, [], { ...ctx, rootless }).options.spec?.user,
    ).toBe('0');
  });

  it('host needs no mappings; keep-id and nomap are refused rootful; bad modes are named', () => {
    expect(
      parseCreateFlags({ userns: 'host' }, [], { ...ctx, rootless }).options.spec?.userns,
    ).toBeUndefined();
    expect(() => parseCreateFlags({ userns: 'keep-id' }, [], ctx)).toThrow(
      /--userns keep-id is only supported rootless/,
    );
    expect(() => parseCreateFlags({ userns: 'private' }, [], ctx)).toThrow(/invalid --userns "private"/);
  });
});

describe('parseCreateFlags --log-driver', () => {
  it('k8s-file (json-file alias), none and passthrough; passthrough refuses a terminal', () => {
    expect(parseCreateFlags({}, [], ctx).stored.logDriver).toBe('k8s-file');
    expect(parseCreateFlags({ 'log-driver': 'json-file' }, [], ctx).stored.logDriver).toBe('k8s-file');
    expect(parseCreateFlags({ 'log-driver': 'none' }, [], ctx).stored.logDriver).toBe('none');
    expect(parseCreateFlags({ 'log-driver': 'passthrough' }, [], ctx).stored.logDriver).toBe('passthrough');
    expect(() => parseCreateFlags({ 'log-driver': 'passthrough', tty: true }, [], ctx)).toThrow(
      /--log-driver "passthrough".*terminal/,
    );
    expect(() => parseCreateFlags({ 'log-driver': 'syslog' }, [], ctx)).toThrow(/--log-driver "syslog"/);
  });
});
