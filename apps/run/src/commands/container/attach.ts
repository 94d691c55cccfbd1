import { spawnSync } from 'node:child_process';
import { Args, Flags } from '@oclif/core';
import {
  type AttachConnection,
  type AttachResult,
  attachableContainer,
  attachSession,
  connectAttach,
  DEFAULT_DETACH_KEYS,
  parseDetachKeys,
  resizeContainerTerminal,
} from '@skiff/oci/runtime/attach';
import type { ContainerRecord } from '@skiff/oci/runtime/containers';
import { storedConfigOf } from '@skiff/oci/runtime/create-flags';
import { killContainer, removeContainer } from '@skiff/oci/runtime/run';
import { type ContainerSession, withContainerSession } from '@skiff/oci/runtime/session';
import { ToolCommand } from '../../base-command.js';
import { storeOptions } from '../../store-options.js';

export interface TerminalAttachOptions {
  /** The container has a terminal (-t). */
  tty: boolean;
  /** Forward this process's stdin (false: --no-stdin). */
  stdin: boolean;
  /** --sig-proxy: signals to skiff go to the container. */
  sigProxy: boolean;
  detachKeys: Uint8Array;
  /**
   * Start the container (run): call `connect` after the runtime created it and before it
   * starts. Without it the container runs already (attach).
   */
  start?: (connect: () => Promise<void>) => Promise<void>;
}

/** `{ consoleSize }` of the caller's terminal (stdout), or nothing when it is not one. */
export function callerTerminalSize(): { consoleSize?: { rows: number; cols: number } } {
  return process.stdout.isTTY
    ? { consoleSize: { rows: process.stdout.rows, cols: process.stdout.columns } }
    : {};
}

/** Signals proxied to the container (podman proxies all but SIGCHLD/SIGURG/SIGSTOP/SIGKILL). */
const PROXIED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/**
 * Send these signals, when skiff receives them, to the container (`RUNTIME kill`) instead of
 * dying of them. Returns the function that stops it.
 */
export async function proxySignals(
  s: ContainerSession,
  id: string,
  signals: readonly NodeJS.Signals[],
): Promise<() => void> {
  if (signals.length === 0) return () => {};
  const runtime = await s.runtime();
  const forward = (sig: NodeJS.Signals) => {
    void killContainer(s.store, s.db, runtime, id, sig).catch(() => {});
  };
  for (const sig of signals) process.on(sig, forward);
  return () => {
    for (const sig of signals) process.off(sig, forward);
  };
}

/** What `RUNTIME run` in the caller's process group does not get from the terminal itself. */
export function attachedRunSignals(sigProxy: boolean): NodeJS.Signals[] {
  if (!sigProxy) return [];
  // With a terminal, its ^C reaches the runtime (same process group), which passes it on.
  return process.stdin.isTTY
    ? ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']
    : ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGINT'];
}

/**
 * Attach this process's terminal to a container under conmon: raw mode while attached when it
 * has a terminal (restored after), its window size kept in sync, signals proxied, output and
 * input relayed. Resolves with the container's exit code, or `detached`.
 */
export async function attachTerminal(
  s: ContainerSession,
  rec: ContainerRecord,
  o: TerminalAttachOptions,
): Promise<AttachResult> {
  const stdin = process.stdin;
  const raw = o.tty && o.stdin && stdin.isTTY === true;
  let conn: AttachConnection | undefined;
  const streams = {
    ...(o.stdin ? { stdin } : {}),
    stdout: process.stdout,
    stderr: process.stderr,
    detachKeys: o.detachKeys,
  };
  const resize = () => {
    if (process.stdout.isTTY)
      resizeContainerTerminal(rec.bundle, process.stdout.rows, process.stdout.columns);
  };
  const unproxy = await proxySignals(s, rec.id, o.sigProxy ? PROXIED : []);
  if (raw) {
    stdin.setRawMode(true);
    // libuv's raw mode keeps ONLCR; the container's pty already turns \n into \r\n.
    spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
  }
  try {
    const connect = async () => {
      conn = connectAttach(rec.bundle, streams);
      await conn.ready;
    };
    if (o.start) await o.start(connect);
    else await connect();
    if (o.tty) {
      resize();
      process.stdout.on('resize', resize);
    }
    return await attachSession(s.store, s.db, rec.id, conn as unknown as AttachConnection);
  } finally {
    process.stdout.off('resize', resize);
    unproxy();
    if (raw) stdin.setRawMode(false);
    conn?.close();
    if (o.stdin) stdin.pause();
  }
}

/** Wait for the exit command's `cleanup --rm` to remove a container; remove it here if it does not. */
export async function removedByExitCommand(s: ContainerSession, id: string): Promise<void> {
  for (let i = 0; i < 200 && s.db.get(id); i++) await new Promise((r) => setTimeout(r, 50));
  if (s.db.get(id))
    await removeContainer(s.store, s.db, await s.runtime(), id, { force: true }).catch(() => {});
}

export default class ContainerAttach extends ToolCommand {
  static override aliases = ['attach'];
  static override summary = 'Attach to a running container';
  static override description =
    "Attaches this terminal to a running container's output and input (detach with ctrl-p,ctrl-q). The exit code is the container's when it exits while attached.";
  static override examples = ['<%= config.bin %> attach web', '<%= config.bin %> attach --no-stdin job'];
  static override args = { container: Args.string({ required: true, description: 'container' }) };
  static override flags = {
    'detach-keys': Flags.string({
      description: 'Select the key sequence for detaching a container ("" disables)',
      default: DEFAULT_DETACH_KEYS,
    }),
    'no-stdin': Flags.boolean({ description: 'Do not attach STDIN' }),
    'sig-proxy': Flags.boolean({
      description: 'Proxy received signals to the container process',
      default: true,
      allowNo: true,
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainerAttach);
    const detachKeys = parseDetachKeys(flags['detach-keys']);
    let exitCode = 0;
    await withContainerSession(storeOptions(flags), async (s) => {
      const rec = attachableContainer(s.store, s.db, s.require(args.container).id);
      const cfg = storedConfigOf(rec.config);
      const r = await attachTerminal(s, rec, {
        tty: Boolean(cfg.tty),
        stdin: !flags['no-stdin'] && Boolean(cfg.tty || cfg.interactive),
        sigProxy: flags['sig-proxy'],
        detachKeys,
      });
      if (!r.detached) exitCode = r.exitCode ?? 0;
    });
    if (exitCode !== 0) this.exit(exitCode);
  }
}
