import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitForHttp } from './net.js';
import { startTokenServer, type TokenServer } from './token-server.js';

/**
 * Real registries for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1, with
 * a generated config (filesystem storage in a temp dir, deletes enabled), optionally behind
 * htpasswd Basic auth, token auth (with the fixture token server) and TLS (a self-signed CA
 * made with openssl once per test process).
 */

const execFileP = promisify(execFile);

export interface TestRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  dataDir: string;
  logFile: string;
  tls: boolean;
  /** The docker-registry process (benchmarks read its CPU time from /proc). */
  pid: number;
  /** The CA that signed the server certificate (TLS only). */
  caCertPath?: string;
  /** A directory holding only `ca.crt`, usable as --cert-dir (TLS only). */
  certDir?: string;
  username?: string;
  password?: string;
  /** The token server (auth: 'token' only). */
  tokenServer?: TokenServer;
  stop(): Promise<void>;
  /** Parsed access log lines (method, path, status), in order. */
  requests(): Promise<Array<{ method: string; path: string; status: number }>>;
}

export interface StartRegistryOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  tls?: boolean;
  /** Users for htpasswd/token auth; default `{ testuser: 'testpassword' }`. */
  users?: Record<string, string>;
  /** Storage root; a fresh temp dir when absent. */
  dataDir?: string;
}

export interface TestPki {
  dir: string;
  caCertPath: string;
  serverCertPath: string;
  serverKeyPath: string;
  /** Directory with only ca.crt (as /etc/containers/certs.d/HOST:PORT). */
  certDir: string;
  tokenKeyPath: string;
  tokenCertPath: string;
}

let pkiPromise: Promise<TestPki> | undefined;

async function openssl(args: string[], cwd: string): Promise<void> {
  await execFileP('openssl', args, { cwd });
}

async function makePki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-test-pki-'));
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '30',
      '-subj',
      '/CN=Skiff Test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  await openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=127.0.0.1',
    ],
    dir,
  );
  await writeFile(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '30',
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'token.key',
      '-out',
      'token.crt',
      '-days',
      '30',
      '-subj',
      '/CN=Skiff Test Token Signer',
    ],
    dir,
  );
  const certDir = join(dir, 'certs.d');
  await mkdir(certDir);
  await writeFile(join(certDir, 'ca.crt'), await readFile(join(dir, 'ca.crt')));
  return {
    dir,
    caCertPath: join(dir, 'ca.crt'),
    serverCertPath: join(dir, 'server.crt'),
    serverKeyPath: join(dir, 'server.key'),
    certDir,
    tokenKeyPath: join(dir, 'token.key'),
    tokenCertPath: join(dir, 'token.crt'),
  };
}

/** The test PKI (CA, server certificate for 127.0.0.1/localhost, token signer), made once per process. */
export function testPki(): Promise<TestPki> {
  pkiPromise ??= makePki();
  return pkiPromise;
}

async function htpasswdFile(path: string, users: Record<string, string>): Promise<void> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(users)) {
    const { stdout } = await execFileP('htpasswd', ['-Bbn', user, password]);
    lines.push(stdout.trim());
  }
  await writeFile(path, `${lines.join('\n')}\n`);
}

function registryEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  return env;
}

const ACCESS_LOG_RE = /^\S+ \S+ \S+ \[[^\]]+\] "(\S+) (\S+) [^"]*" (\d{3}) /;

async function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const auth = options.auth ?? 'none';
  const tls = options.tls ?? false;
  const users = options.users ?? { testuser: 'testpassword' };
  const work = await mkdtemp(join(tmpdir(), 'skiff-test-registry-'));
  const dataDir = options.dataDir ?? join(work, 'data');
  await mkdir(dataDir, { recursive: true });
  const logFile = join(work, 'registry.log');
  const pki = tls || auth === 'token' ? await testPki() : undefined;

  let tokenServer: TokenServer | undefined;
  const authLines: string[] = [];
  if (auth === 'htpasswd') {
    const path = join(work, 'htpasswd');
    await htpasswdFile(path, users);
    authLines.push('auth:', '  htpasswd:', '    realm: skiff-test', `    path: ${path}`);
  } else if (auth === 'token') {
    const service = 'skiff-test-registry';
    const issuer = 'skiff-test-issuer';
    tokenServer = await startTokenServer({
      users,
      keyPem: await readFile(pki!.tokenKeyPath),
      certPem: await readFile(pki!.tokenCertPath),
      issuer,
      service,
      identityTokens: { 'identity-token-for-testuser': Object.keys(users)[0] ?? 'testuser' },
    });
    authLines.push(
      'auth:',
      '  token:',
      `    realm: ${tokenServer.realm}`,
      `    service: ${service}`,
      `    issuer: ${issuer}`,
      `    rootcertbundle: ${pki!.tokenCertPath}`,
    );
  }

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = [
      'version: 0.1',
      'log:',
      '  level: info',
      '  formatter: json',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${dataDir}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: ${host}`,
      '  secret: skiff-test-secret',
      ...(tls ? ['  tls:', `    certificate: ${pki!.serverCertPath}`, `    key: ${pki!.serverKeyPath}`] : []),
      ...authLines,
      '',
    ].join('\n');
    const configPath = join(work, 'config.yml');
    await writeFile(configPath, config);
    const fd = openSync(logFile, 'a');
    const child = spawn('docker-registry', ['serve', configPath], {
      env: registryEnv(),
      stdio: ['ignore', fd, fd],
      detached: false,
    });
    closeSync(fd);
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    child.once('error', (err) => {
      lastError = err;
      exited = true;
    });
    try {
      await waitForHttp(`${tls ? 'https' : 'http'}://${host}/v2/`, {
        isAlive: () => !exited,
        timeoutMs: 20_000,
      });
    } catch (err) {
      lastError = err;
      if (!exited && child.pid !== undefined) {
        process.kill(child.pid, 'SIGKILL');
        await waitExit(child, 5000);
      }
      continue;
    }
    const registry: TestRegistry = {
      host,
      dataDir,
      logFile,
      tls,
      pid: child.pid ?? 0,
      username: auth === 'none' ? undefined : Object.keys(users)[0],
      password: auth === 'none' ? undefined : Object.values(users)[0],
      stop: async () => {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
          process.kill(child.pid, 'SIGTERM');
          if (!(await waitExit(child, 5000))) {
            process.kill(child.pid, 'SIGKILL');
            await waitExit(child, 5000);
          }
        }
        await tokenServer?.stop();
        await rm(work, { recursive: true, force: true });
      },
      requests: async () => {
        const text = await readFile(logFile, 'utf8');
        const out: Array<{ method: string; path: string; status: number }> = [];
        for (const line of text.split('\n')) {
          const m = ACCESS_LOG_RE.exec(line);
          if (m) out.push({ method: m[1]!, path: m[2]!, status: Number(m[3]) });
        }
        return out;
      },
    };
    if (tls) {
      registry.caCertPath = pki!.caCertPath;
      registry.certDir = pki!.certDir;
    }
    if (tokenServer) registry.tokenServer = tokenServer;
    return registry;
  }
  await tokenServer?.stop();
  const log = await readFile(logFile, 'utf8').catch(() => '');
  await rm(work, { recursive: true, force: true });
  throw new Error(`docker-registry did not start: ${String(lastError)}\n${log.slice(-2000)}`);
}
