// A real OpenSSH server on 127.0.0.1 for tests: own host key, own authorized_keys, random port.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, chmodSync, rmSync, readdirSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const SSHD = '/usr/sbin/sshd';

export interface KeyPair {
  privateKeyFile: string;
  publicKey: string;
  /** Raw SSH wire-format public key. */
  blob: Buffer;
  type: string;
}

export function genKey(dir: string, name: string, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519', passphrase = ''): KeyPair {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-C', `provision-test-${name}`, '-f', file], { stdio: 'pipe' });
  const publicKey = readFileSync(`${file}.pub`, 'utf8').trim();
  const [keyType, b64] = publicKey.split(/\s+/);
  return { privateKeyFile: file, publicKey, blob: Buffer.from(b64!, 'base64'), type: keyType! };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface SshdOptions {
  hostKeyType?: 'ed25519' | 'ecdsa' | 'rsa';
  extraConfig?: string[];
}

export class TestSshd {
  readonly dir: string;
  port = 0;
  hostKey!: KeyPair;
  clientKey!: KeyPair;
  private proc: ChildProcess | undefined;
  private log = '';

  constructor(private readonly options: SshdOptions = {}) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'provision-sshd-'));
  }

  get authorizedKeysFile(): string {
    return path.join(this.dir, 'auth', 'authorized_keys');
  }

  /** sshd's log so far (stderr, -e), for assertion messages. */
  get output(): string {
    return this.log;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<this> {
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    this.hostKey = genKey(this.dir, 'host_key', this.options.hostKeyType ?? 'ed25519');
    this.clientKey = genKey(this.dir, 'client_key');
    // Non-root test users read authorized_keys with their own uid, so this directory is world-readable.
    const auth = path.join(this.dir, 'auth');
    mkdirSync(auth, { mode: 0o755 });
    chmodSync(this.dir, 0o755);
    writeFileSync(this.authorizedKeysFile, this.clientKey.publicKey + '\n', { mode: 0o644 });
    const home = path.join(this.dir, 'home');
    mkdirSync(home, { mode: 0o777 });
    chmodSync(home, 0o1777);
    this.port = await freePort();
    const conf = path.join(this.dir, 'sshd_config');
    writeFileSync(
      conf,
      [
        // First value wins in sshd_config, so overrides go first.
        ...(this.options.extraConfig ?? []),
        `Port ${this.port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${this.hostKey.privateKeyFile}`,
        `AuthorizedKeysFile ${this.authorizedKeysFile}`,
        'PidFile none',
        'UsePAM no',
        'StrictModes no',
        'PermitRootLogin yes',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        'MaxSessions 10',
        'MaxStartups 100',
        'AllowTcpForwarding yes',
        'Subsystem sftp internal-sftp',
        'LogLevel VERBOSE',
        // Sessions get an empty HOME: the test machine's dotfiles (e.g. a slow root ~/.bashrc, which
        // Debian's bash sources for every ssh command) must not slow or change what the tests see.
        `SetEnv HOME=${home}`,
      ].join('\n') + '\n',
    );
    const proc = spawn(SSHD, ['-D', '-e', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => (this.log += d));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not start within 5s:\n${this.log}`)), 5000);
      const check = () => {
        if (this.log.includes('Server listening on')) {
          clearTimeout(timer);
          proc.stderr!.off('data', check);
          resolve();
        }
      };
      proc.stderr!.on('data', check);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited with ${code}:\n${this.log}`));
      });
    });
    return this;
  }

  /** SIGKILLs every per-connection sshd process, leaving the listener up: a dropped connection. */
  killSessions(): number {
    if (!this.proc?.pid) return 0;
    const victims = descendants(this.proc.pid);
    for (const pid of victims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    return victims.length;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const pid = proc.pid!;
      for (const d of descendants(pid)) {
        try {
          process.kill(d, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** All descendants of pid, read from /proc (no ps parsing). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const stat = readFileSync(`/proc/${ent}/stat`, 'utf8');
      // ppid is the 2nd field after the ")" closing the command name.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(ent));
      children.set(ppid, list);
    } catch {
      /* process exited while we looked */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export function knownHostsLine(port: number, key: KeyPair): string {
  return `[127.0.0.1]:${port} ${key.type} ${key.blob.toString('base64')}`;
}

export const hasSudo = (): boolean => existsSync('/usr/bin/sudo');
