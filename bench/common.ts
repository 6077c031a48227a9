// Helpers shared by the lab benches: timed child processes with their CPU time and the peak
// memory of their whole process tree, the ssh2 floor, sshd's own count of session requests,
// and medians. Not a test.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import ssh2 from 'ssh2';

export interface Timed {
  code: number;
  wallMs: number;
  /** User + system CPU seconds of the command and every child it waited for (GNU time). */
  cpuS: number;
  /** Peak of the summed RSS of the command's process tree, sampled every 500 ms (MB). */
  peakTreeRssMb: number;
  stdout: string;
  stderr: string;
  /** 1-minute load average just before the command started. */
  load1: number;
}

const PAGE = 4096;

/**
 * RSS (bytes) of `root` and all its descendants, from /proc. Read synchronously: through
 * fs.promises every file is four thread-pool jobs, and with a lab's ~600 processes a sample cost
 * ~107 ms of CPU (a fifth of a core at one sample per 500 ms, taken from the command measured);
 * read at once, ~15 ms. (This kernel has no /proc/PID/task/TID/children to walk the tree alone.)
 */
function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    const pid = Number(e);
    if (!Number.isInteger(pid)) continue;
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(f[1]);
      // Field 24 of stat (rss, pages) is index 21 after the command name.
      rss.set(pid, Number(f[21]) * PAGE);
      const list = children.get(ppid) ?? [];
      list.push(pid);
      children.set(ppid, list);
    } catch {
      /* exited meanwhile */
    }
  }
  let total = 0;
  const todo = [root];
  while (todo.length > 0) {
    const p = todo.pop()!;
    total += rss.get(p) ?? 0;
    todo.push(...(children.get(p) ?? []));
  }
  return total;
}

/** Runs `cmd` under GNU time, sampling its tree's RSS; never throws on a non-zero exit. */
export async function timed(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Timed> {
  const timeFile = join(tmpdir(), `bench-time-${process.pid}-${Date.now()}`);
  const load1 = loadavg()[0]!;
  const t0 = Date.now();
  const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', timeFile, cmd, ...args], {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let peak = 0;
  const sampler = setInterval(() => {
    if (child.pid !== undefined) peak = Math.max(peak, treeRss(child.pid));
    // Every 500 ms: a sample reads /proc/*/stat of every process on the machine (thousands with a
    // big lab).
  }, 500);
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  const wallMs = Date.now() - t0;
  clearInterval(sampler);
  const [user, sys, maxKb] = (await readFile(timeFile, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
  await rm(timeFile, { force: true });
  // A tree sampled between two ticks still has the largest single process (GNU time's %M).
  const peakTreeRssMb = Math.max(peak, (maxKb ?? 0) * 1024) / 2 ** 20;
  return { code, wallMs, cpuS: (user ?? 0) + (sys ?? 0), peakTreeRssMb, stdout, stderr, load1 };
}

/** Host keys from a known_hosts file: address -> base64 key. */
export async function knownHostKeys(file: string): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const [addr, , key] = line.split(' ');
    if (addr && key) keys.set(addr, key);
  }
  return keys;
}

/** ssh2 connect + exec `true` + close, to one host: the least any SSH tool must do. */
function sshTrue(address: string, privateKey: Buffer, hostKey: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', reject);
    c.on('ready', () => {
      c.exec('true', (err, ch) => {
        if (err) return reject(err);
        ch.on('close', (code: number | null) => {
          c.end();
          if (code === 0) resolve();
          else reject(new Error(`${address}: true exited ${code}`));
        });
        ch.resume();
        ch.stderr.resume();
      });
    });
    c.connect({
      host: address,
      port: 22,
      username: 'root',
      privateKey,
      readyTimeout: 60_000,
      hostVerifier: (key: Buffer) => key.toString('base64') === hostKey,
    });
  });
}

/** The floor: ssh2 connect + exec `true` + close to every host, `forks` at once (ms). */
export async function sshFloor(hosts: { address: string }[], keyFile: string, knownHosts: string, forks: number): Promise<number> {
  const privateKey = await readFile(keyFile);
  const keys = await knownHostKeys(knownHosts);
  const limit = pLimit(forks);
  const t0 = Date.now();
  await Promise.all(hosts.map((h) => limit(() => sshTrue(h.address, privateKey, keys.get(h.address) ?? ''))));
  return Date.now() - t0;
}

/** Byte offsets of each host's sshd log (DEBUG1, see PYTHON_IMAGE), to count what a run asked of sshd. */
export async function logOffsets(logs: string[]): Promise<number[]> {
  return Promise.all(
    logs.map((f) =>
      stat(f).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
}

/** SSH connections and session requests (exec/subsystem/shell) each host's sshd saw since `offsets`; means per host. */
export async function sshdCounts(logs: string[], offsets: number[]): Promise<{ connections: number; sessions: number }> {
  let connections = 0;
  let sessions = 0;
  for (const [i, f] of logs.entries()) {
    const text = (await readFile(f)).subarray(offsets[i] ?? 0).toString();
    connections += text.match(/Accepted publickey/g)?.length ?? 0;
    sessions += text.match(/session_input_channel_req: session \d+ req (exec|subsystem|shell)/g)?.length ?? 0;
  }
  return { connections: connections / logs.length, sessions: sessions / logs.length };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function machine(): { cpus: number; model: string } {
  return { cpus: cpus().length, model: cpus()[0]?.model ?? '?' };
}

export function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

export const numbers = (s: string) =>
  s
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
