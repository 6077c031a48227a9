// openConnection: one ssh2 Client per host, every exec on its own channel, channels bounded.
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import os from 'node:os';
import path from 'node:path';
import { promises as fs, constants as fsConstants } from 'node:fs';
import type { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import type { Connection, ExecOptions, ExecResult } from '../core/types.js';
import type { SshTarget } from '../inventory/types.js';
import { Script, sh } from '../core/shell.js';
import { execResult } from '../core/host-output.js';
import { collectAuth, type AuthPlan } from './auth.js';
import { killScript, planCommand, StartFilter } from './become.js';
import { dial } from './dial.js';
import { TransportError } from './errors.js';
import { Semaphore } from './semaphore.js';
import { parseJumpSpec, resolveEndpoint, type ExplicitSettings, type ResolvedEndpoint } from './ssh-config.js';

export interface ConnectOptions {
  acceptNewHostKeys: boolean;
  /** TCP connect + handshake + login budget per attempt. Default 10000. */
  connectTimeoutMs?: number;
  /** Default 15000; three missed keepalives drop the connection. */
  keepaliveIntervalMs?: number;
  /** Extra attempts for unreachable/timeout only (never auth or host key). Default 2. */
  retries?: number;
  /** First retry delay, doubled each time. Default 500. */
  retryDelayMs?: number;
  /** Concurrent channels (execs + SFTP) per connection. Default 8, under sshd's MaxSessions=10. */
  maxChannels?: number;
  /** Default ~/.ssh/config (a missing default file is fine). */
  sshConfigFile?: string;
  /** Called before each command/upload with a display string; may contain secrets from scripts, so the caller redacts. */
  onCommand?: (host: string, display: string) => void;
  /** Where password/passphrase env vars and SSH_AUTH_SOCK are read. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Env var holding the passphrase for encrypted private keys. */
  keyPassphraseEnv?: string;
}

/**
 * Which SshTarget fields the inventory really set. SshTarget always carries address/port/user,
 * so defaults are recognised by value: address == name, port 22, empty user.
 */
export function explicitSettings(t: SshTarget): ExplicitSettings {
  return {
    ...(t.address && t.address !== t.name ? { address: t.address } : {}),
    ...(t.port && t.port !== 22 ? { port: t.port } : {}),
    ...(t.user ? { user: t.user } : {}),
    ...(t.privateKeyFile ? { privateKeyFile: t.privateKeyFile } : {}),
    ...(t.proxyJump ? { proxyJump: t.proxyJump } : {}),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function openConnection(target: SshTarget, opts: ConnectOptions): Promise<Connection> {
  const env = opts.env ?? process.env;
  const ep = await resolveEndpoint(target.name, explicitSettings(target), { configFile: opts.sshConfigFile });
  const endpoint = `${ep.address}:${ep.port}`;
  const knownHostsFile = target.knownHostsFile ?? path.join(os.homedir(), '.ssh', 'known_hosts');
  const auth = await collectAuth({
    host: target.name,
    endpoint,
    identityFiles: ep.identityFiles,
    explicitKey: ep.explicitKey,
    ...(target.passwordEnv ? { passwordEnv: target.passwordEnv } : {}),
    ...(opts.keyPassphraseEnv ? { keyPassphraseEnv: opts.keyPassphraseEnv } : {}),
    env,
  });
  const common = {
    readyTimeoutMs: opts.connectTimeoutMs ?? 10_000,
    keepaliveIntervalMs: opts.keepaliveIntervalMs ?? 15_000,
  };

  const attempt = async (): Promise<{ client: Client; jump?: Client }> => {
    if (!ep.proxyJump) {
      return { client: await dialEndpoint(target.name, ep, auth, knownHostsFile, opts, common) };
    }
    return dialViaJump(target, ep, auth, knownHostsFile, opts, env, common);
  };

  const retries = opts.retries ?? 2;
  const baseDelay = opts.retryDelayMs ?? 500;
  for (let i = 0; ; i++) {
    try {
      const { client, jump } = await attempt();
      return new SshConnection(target, ep, client, jump, opts, env);
    } catch (e) {
      if (!(e instanceof TransportError) || !e.retryable || i >= retries) {
        if (e instanceof TransportError && e.retryable && i > 0) e.message += ` (after ${i + 1} attempts)`;
        throw e;
      }
      await sleep(baseDelay * 2 ** i);
    }
  }
}

type DialTimers = { readyTimeoutMs: number; keepaliveIntervalMs: number };

/** SSH to one resolved endpoint; its host key is checked in known_hosts under that address and port. */
function dialEndpoint(
  host: string,
  ep: ResolvedEndpoint,
  auth: AuthPlan,
  knownHostsFile: string,
  opts: ConnectOptions,
  common: DialTimers,
  sock?: ClientChannel,
): Promise<Client> {
  const endpoint = `${ep.address}:${ep.port}`;
  return dial({
    host,
    endpoint,
    address: ep.address,
    port: ep.port,
    username: ep.user,
    auth,
    ...common,
    ...(sock ? { sock } : {}),
    policy: { host, endpoint, keyHost: ep.address, keyPort: ep.port, knownHostsFile, acceptNew: opts.acceptNewHostKeys },
  });
}

/** Single-hop ProxyJump: log in to the jump host, open a direct-tcpip tunnel, run SSH through it. */
async function dialViaJump(
  target: SshTarget,
  ep: ResolvedEndpoint,
  auth: AuthPlan,
  knownHostsFile: string,
  opts: ConnectOptions,
  env: NodeJS.ProcessEnv,
  common: DialTimers,
): Promise<{ client: Client; jump: Client }> {
  const endpoint = `${ep.address}:${ep.port}`;
  const spec = parseJumpSpec(ep.proxyJump!);
  if (spec.more) throw new TransportError('config', target.name, endpoint, `ProxyJump "${ep.proxyJump}": only one jump host is supported`);
  const jep = await resolveEndpoint(
    spec.host,
    { ...(spec.user ? { user: spec.user } : {}), ...(spec.port ? { port: spec.port } : {}) },
    { configFile: opts.sshConfigFile },
  );
  if (jep.proxyJump) throw new TransportError('config', target.name, endpoint, `jump host ${spec.host} has its own ProxyJump; chains are not supported`);
  const jendpoint = `${jep.address}:${jep.port}`;
  const jhost = `${target.name} via jump host ${spec.host}`;
  const jauth = await collectAuth({
    host: jhost,
    endpoint: jendpoint,
    identityFiles: jep.identityFiles,
    explicitKey: jep.explicitKey,
    env,
    ...(opts.keyPassphraseEnv ? { keyPassphraseEnv: opts.keyPassphraseEnv } : {}),
  });
  const jump = await dialEndpoint(jhost, jep, jauth, knownHostsFile, opts, common);
  try {
    const sock = await new Promise<ClientChannel>((resolve, reject) =>
      jump.forwardOut('127.0.0.1', 0, ep.address, ep.port, (err, stream) => (err ? reject(err) : resolve(stream))),
    ).catch((e: Error) => {
      throw new TransportError('unreachable', target.name, endpoint, `jump host ${spec.host} cannot reach ${endpoint}: ${e.message}`, { cause: e });
    });
    const client = await dialEndpoint(target.name, ep, auth, knownHostsFile, opts, common, sock);
    return { client, jump };
  } catch (e) {
    jump.end();
    throw e;
  }
}

/** Exit status of a channel: the code, or 128+signal like a shell, or 255 for an unknown signal. */
export function exitCode(code: number | null | undefined, signal: string | undefined): number | undefined {
  if (typeof code === 'number') return code;
  if (signal) {
    const name = signal.startsWith('SIG') ? signal : `SIG${signal}`; // ssh2 already adds the prefix
    const n = (osConstants.signals as Record<string, number>)[name];
    return n ? 128 + n : 255;
  }
  return undefined;
}

/**
 * sshd refuses a channel (reason 1, "open failed") when MaxSessions is reached. Our semaphore stays
 * under it, but sshd frees a session slightly after it reports the close, so a burst can overlap
 * the tail of finished sessions: retry briefly instead of failing the command.
 */
const OPEN_RETRIES = 8;
const openBackoff = (attempt: number) => Math.min(25 * 2 ** attempt, 1000);
function serverBusy(err: Error & { reason?: number | string }): boolean {
  return err.reason === 1 || /open failed/i.test(err.message);
}

/**
 * Sends SIGKILL over the channel (sshd killpg()s the session) and closes it. ssh2's
 * Channel.signal() refuses once our side sent EOF, which we always do right after stdin,
 * so the request goes through the protocol object directly.
 */
function killRemote(ch: ClientChannel): void {
  const c = ch as unknown as { outgoing?: { id: number; state: string }; _client?: { _protocol?: { signal(id: number, sig: string): void } } };
  try {
    const state = c.outgoing?.state;
    if (state === 'open' || state === 'eof') c._client?._protocol?.signal(c.outgoing!.id, 'KILL');
  } catch {
    /* connection already gone */
  }
  try {
    ch.close();
  } catch {
    /* already closed */
  }
}

function firstLine(s: string): string {
  const l = s.trim().split('\n')[0] ?? '';
  return l.length > 80 ? l.slice(0, 77) + '...' : l;
}

class SshConnection implements Connection {
  readonly host: string;
  private readonly endpoint: string;
  private readonly sem: Semaphore;
  private closed = false;
  private lastError: Error | undefined;
  /** Rejecters of in-flight operations, called when the connection goes away (a Set, not a
   * Promise.race against one shared promise: that would keep every settled result reachable). */
  private readonly inFlight = new Set<(e: TransportError) => void>();
  private lostError: TransportError | undefined;

  constructor(
    private readonly target: SshTarget,
    private readonly ep: ResolvedEndpoint,
    private readonly client: Client,
    private readonly jump: Client | undefined,
    private readonly opts: ConnectOptions,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.host = target.name;
    this.endpoint = `${ep.address}:${ep.port}`;
    this.sem = new Semaphore(opts.maxChannels ?? 8);
    client.on('error', (e: Error) => (this.lastError = e));
    client.on('close', () => this.onGone());
    if (jump) {
      jump.on('error', (e: Error) => (this.lastError = e));
      jump.on('close', () => this.onGone());
    }
  }

  private onGone(): void {
    if (this.closed) return;
    this.closed = true;
    const why = this.lastError ? `: ${this.lastError.message}` : '';
    this.failInFlight(this.err('channel', `connection lost${why}`, this.lastError));
    this.client.end();
    this.jump?.end();
  }

  private err(kind: TransportError['kind'], detail: string, cause?: unknown): TransportError {
    return new TransportError(kind, this.host, this.endpoint, detail, { cause });
  }

  private failInFlight(e: TransportError): void {
    this.lostError = e;
    const rejecters = [...this.inFlight];
    this.inFlight.clear();
    for (const r of rejecters) r(e);
  }

  /** Channel slot, or rejection if the connection goes away while we wait. */
  private async slot(): Promise<() => void> {
    if (this.closed) throw this.lostError ?? this.err('channel', 'connection is closed');
    const acquiring = this.sem.acquire();
    try {
      return await this.guard(acquiring);
    } catch (e) {
      acquiring.then(
        (release) => release(),
        () => {},
      ); // give back a slot granted after we stopped waiting
      throw e;
    }
  }

  /** Peak of concurrently open channels so far. */
  get peakChannels(): number {
    return this.sem.peak;
  }

  /** Root logins run everything as is; others need sudo for `become`. */
  private get needsSudo(): boolean {
    return this.ep.user !== 'root';
  }

  /** Settles with `p`, or rejects as soon as the connection is lost. */
  private guard<T>(p: Promise<T>): Promise<T> {
    if (this.closed) {
      p.catch(() => {});
      return Promise.reject(this.lostError ?? this.err('channel', 'connection is closed'));
    }
    return new Promise<T>((resolve, reject) => {
      this.inFlight.add(reject);
      p.then(
        (v) => {
          this.inFlight.delete(reject);
          resolve(v);
        },
        (e) => {
          this.inFlight.delete(reject);
          reject(e);
        },
      );
    });
  }

  async exec(script: Script, opts: ExecOptions = {}): Promise<ExecResult> {
    const become = !!opts.become && this.needsSudo;
    this.opts.onCommand?.(this.host, become ? `[sudo] ${script.display}` : script.display);
    const sudoPassword = become && this.target.becomePasswordEnv ? this.env[this.target.becomePasswordEnv] : undefined;
    if (become && this.target.becomePasswordEnv && !sudoPassword) {
      throw this.err('auth', `become password env ${this.target.becomePasswordEnv} is not set`);
    }
    const release = await this.slot();
    return this.guard(this.runChannel(script, become, sudoPassword, opts, release));
  }

  private runChannel(script: Script, become: boolean, sudoPassword: string | undefined, opts: ExecOptions, release: () => void): Promise<ExecResult> {
    const plan = planCommand(script, become, sudoPassword !== undefined);
    return new Promise<ExecResult>((resolve, reject) => {
      let settled = false;
      let stream: ClientChannel | undefined;
      let filter: StartFilter | undefined;
      const settle = (e: Error | null, r?: ExecResult) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        if (e) reject(e);
        else resolve(r!);
      };
      const timer = opts.timeoutMs
        ? setTimeout(() => {
            settle(this.err('timeout', `command did not finish within ${opts.timeoutMs}ms: ${firstLine(script.display)}`));
            this.abandon(stream, filter?.pid, become);
          }, opts.timeoutMs)
        : undefined;

      const onOpen = (err: Error | undefined, ch: ClientChannel) => {
        if (err) {
          release();
          return settle(this.err('channel', `cannot open a channel: ${err.message}`, err));
        }
        stream = ch;
        if (settled) ch.close(); // timed out while opening
        const out: Buffer[] = [];
        const errChunks: string[] = [];
        let code: number | undefined;
        const sendInput = () => {
          if (opts.stdin !== undefined && opts.stdin.length > 0) ch.write(opts.stdin);
          ch.end();
        };
        const f = (filter = new StartFilter(plan.marker, plan.prompt, (ev) => {
          if (ev === 'started') {
            if (plan.sudo) sendInput();
          } else if (f.prompts === 1 && sudoPassword !== undefined) {
            ch.write(sudoPassword + '\n');
          } else {
            ch.end(); // asked again: the password was wrong; EOF makes sudo give up
          }
        }));
        // Without sudo nobody else reads stdin first, so it can go right away.
        if (!plan.sudo) sendInput();
        ch.on('data', (d: Buffer) => out.push(d));
        ch.stderr.setEncoding('utf8');
        ch.stderr.on('data', (d: string) => errChunks.push(f.push(d)));
        ch.on('exit', (c: number | null, signal?: string) => {
          code = exitCode(c, signal);
        });
        ch.on('error', () => {}); // surfaced through 'close' without an exit status
        ch.on('close', () => {
          release();
          if (code === undefined) return settle(this.err('channel', `channel closed without an exit status: ${firstLine(script.display)}`));
          const stderr = errChunks.join('') + f.flush();
          if (plan.sudo && !f.hasStarted) {
            // sudo never ran the script: not a task failure but a host setup problem.
            const said = stderr.trim() || `exit ${code}`;
            if (code === 127) return settle(this.err('config', `sudo is not installed on the host (${said})`));
            return settle(this.err('auth', `sudo refused to run as root for user ${this.ep.user}: ${said}`));
          }
          settle(null, execResult(code, Buffer.concat(out), stderr));
        });
      };
      const open = (attempt: number) => {
        try {
          this.client.exec(plan.command, (err, ch) => {
            if (err && serverBusy(err) && attempt < OPEN_RETRIES && !settled && !this.closed) {
              setTimeout(() => open(attempt + 1), openBackoff(attempt));
              return;
            }
            onOpen(err, ch);
          });
        } catch (e) {
          release();
          settle(this.err('channel', `cannot open a channel: ${(e as Error).message}`, e));
        }
      };
      open(0);
    });
  }

  /**
   * After a timeout: kill the script's process group (over a fresh channel, since sshd refuses
   * signal requests for root logins) and close its channel; its slot frees when sshd confirms.
   */
  private abandon(ch: ClientChannel | undefined, pid: number | undefined, become: boolean): void {
    if (ch) killRemote(ch);
    if (pid !== undefined && !this.closed) {
      this.exec(killScript(pid), { become, timeoutMs: 10_000 }).catch(() => {});
    }
  }

  private async sftpSession<T>(work: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    const release = await this.slot();
    try {
      const sftp = await this.guard(
        new Promise<SFTPWrapper>((resolve, reject) => {
          const open = (attempt: number) =>
            this.client.sftp((err, s) => {
              if (err && serverBusy(err) && attempt < OPEN_RETRIES && !this.closed) setTimeout(() => open(attempt + 1), openBackoff(attempt));
              else if (err) reject(err);
              else resolve(s);
            });
          open(0);
        }),
      ).catch((e) => {
        throw e instanceof TransportError ? e : this.err('sftp', `cannot start SFTP: ${(e as Error).message}`, e);
      });
      try {
        return await this.guard(work(sftp));
      } finally {
        sftp.end();
      }
    } finally {
      release();
    }
  }

  async upload(localPath: string, remotePath: string, mode = 0o644): Promise<void> {
    const viaSudo = this.target.become && this.needsSudo;
    this.opts.onCommand?.(this.host, `upload ${localPath} -> ${remotePath} (mode ${mode.toString(8)}${viaSudo ? ', via sudo' : ''})`);
    try {
      await fs.access(localPath, fsConstants.R_OK);
    } catch (e) {
      throw this.err('sftp', `cannot read local file ${localPath}: ${(e as Error).message}`, e);
    }
    const tag = randomBytes(6).toString('hex');
    if (!viaSudo) return this.uploadDirect(localPath, remotePath, mode, tag);
    return this.uploadViaSudo(localPath, remotePath, mode, tag);
  }

  private sftpErr(what: string, e: unknown): TransportError {
    return e instanceof TransportError ? e : this.err('sftp', `${what}: ${(e as Error).message}`, e);
  }

  /** Temp name next to the target, then rename over it: readers see the old or the new file, never half. */
  private async uploadDirect(localPath: string, remotePath: string, mode: number, tag: string): Promise<void> {
    const tmp = `${remotePath}.provision-tmp-${tag}`;
    let renamedByMv = false;
    await this.sftpSession(async (sftp) => {
      try {
        await put(sftp, localPath, tmp, mode);
        // The server's umask may have trimmed the mode given at open time.
        await cb<void>((k) => sftp.chmod(tmp, mode, k));
      } catch (e) {
        await cb<void>((k) => sftp.unlink(tmp, k)).catch(() => {});
        throw this.sftpErr(`upload of ${localPath} to ${tmp} failed`, e);
      }
      try {
        await cb<void>((k) => sftp.ext_openssh_rename(tmp, remotePath, k));
      } catch (e) {
        if (!/does not support/i.test((e as Error).message)) {
          await cb<void>((k) => sftp.unlink(tmp, k)).catch(() => {});
          throw this.sftpErr(`rename ${tmp} -> ${remotePath} failed`, e);
        }
        renamedByMv = true; // server lacks posix-rename; fall back to mv below, outside this SFTP session
      }
    });
    if (renamedByMv) {
      const r = await this.exec(sh`mv -f ${tmp} ${remotePath}`);
      if (r.code !== 0) {
        await this.exec(sh`rm -f ${tmp}`).catch(() => {});
        throw this.err('sftp', `mv ${tmp} -> ${remotePath} failed (exit ${r.code}): ${r.stderr.trim()}`);
      }
    }
  }

  /** Login user cannot write the target: stage in /tmp, then root copies it next to the target and renames. */
  private async uploadViaSudo(localPath: string, remotePath: string, mode: number, tag: string): Promise<void> {
    const staged = `/tmp/.provision-upload-${tag}`;
    await this.sftpSession(async (sftp) => {
      try {
        await put(sftp, localPath, staged, 0o600);
      } catch (e) {
        await cb<void>((k) => sftp.unlink(staged, k)).catch(() => {});
        throw this.sftpErr(`upload of ${localPath} to ${staged} failed`, e);
      }
    });
    const tmp = `${remotePath}.provision-tmp-${tag}`;
    // cp (not mv): /tmp is often another filesystem, and only a same-directory rename is atomic.
    const trap = sh`rm -f ${tmp} ${staged}`.text;
    const script = Script.join(
      [sh`trap ${trap} EXIT`, sh`cp ${staged} ${tmp}`, sh`chown 0:0 ${tmp}`, sh`chmod ${mode.toString(8)} ${tmp}`, sh`mv -f ${tmp} ${remotePath}`],
      ' && ',
    );
    let r: ExecResult;
    try {
      r = await this.exec(script, { become: true });
    } catch (e) {
      await this.exec(sh`rm -f ${staged}`).catch(() => {});
      throw e;
    }
    if (r.code !== 0) throw this.err('sftp', `installing ${remotePath} as root failed (exit ${r.code}): ${r.stderr.trim()}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failInFlight(this.err('channel', 'connection closed'));
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000); // do not let a dead peer hold shutdown
      this.client.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      this.client.end();
    });
    this.jump?.end();
  }
}

function cb<T>(fn: (k: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      fn((err, v) => (err ? reject(err) : resolve(v as T)));
    } catch (e) {
      reject(e);
    }
  });
}

function put(sftp: SFTPWrapper, local: string, remote: string, mode: number): Promise<void> {
  return cb<void>((k) => sftp.fastPut(local, remote, { mode }, (err) => k(err)));
}
