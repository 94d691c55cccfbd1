/** A small adapter over child_process for the runtime module: run a tool, collect its output. */

import { spawn } from 'node:child_process';

export interface ExecResult {
  /** Exit status, or 128+N when killed by signal N. */
  status: number;
  signal?: NodeJS.Signals;
  stdout: string;
  stderr: string;
  /** The spawn error (ENOENT, EACCES) when the program could not be started. */
  error?: NodeJS.ErrnoException;
  timedOut?: boolean;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** Linux signal number of a name (`SIGTERM`, `TERM`, `15`); undefined when unknown. */
export function signalNumber(sig: string | number): number | undefined {
  if (typeof sig === 'number') return sig > 0 && sig < 65 ? sig : undefined;
  if (/^\d+$/.test(sig)) return signalNumber(Number(sig));
  const up = sig.toUpperCase();
  const rt = /^(?:SIG)?RTMIN(?:\+(\d+))?$/.exec(up);
  if (rt) return 34 + Number(rt[1] ?? 0);
  return SIGNALS[up.startsWith('SIG') ? up : `SIG${up}`];
}

/** The shell's convention for a child's end: its status, or 128+N for signal N. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (signalNumber(signal) ?? 0) : 0);
}

export function execFile(
  file: string,
  args: readonly string[],
  options: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    input?: string;
    signal?: AbortSignal;
  } = {},
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      signal: options.signal,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const cap = 64 * 1024;
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      if (stdout.length < cap) stdout += s;
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < cap) stderr += s;
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (err) => {
      spawnError = err;
    });
    child.on('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      const r: ExecResult = {
        status: spawnError && code === null ? 127 : exitCodeOf(code, sig),
        stdout,
        stderr,
      };
      if (sig) r.signal = sig;
      if (spawnError) r.error = spawnError;
      if (timedOut) r.timedOut = true;
      resolve(r);
    });
  });
}
