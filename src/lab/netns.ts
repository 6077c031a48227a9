// Thin wrappers over iproute2 for namespaces and their processes.
import { readFile } from 'node:fs/promises';
import { run } from './run.js';

export async function listNetns(): Promise<string[]> {
  const res = await run('ip', ['netns', 'list'], { allowFail: true });
  // Lines look like "name" or "name (id: 3)".
  return res.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

export async function netnsPids(ns: string): Promise<number[]> {
  const res = await run('ip', ['netns', 'pids', ns], { allowFail: true });
  if (res.code !== 0) return [];
  return res.stdout
    .split(/\s+/)
    .map((s) => Number.parseInt(s, 10))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Process state letter from /proc/PID/stat, null when gone. Zombies ('Z') count as gone. */
export async function procState(pid: number): Promise<{ state: string; ppid: number } | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', ppid: Number.parseInt(rest[1] ?? '0', 10) };
  } catch {
    return null;
  }
}

export async function pidRunning(pid: number): Promise<boolean> {
  const s = await procState(pid);
  return s !== null && s.state !== 'Z' && s.state !== 'X';
}

export async function rootLinks(): Promise<string[]> {
  const res = await run('ip', ['-o', 'link', 'show'], { allowFail: true });
  return res.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGKILLs `pids` and waits until none runs; returns those still running after `timeoutMs`. */
export async function killAndWait(pids: number[], timeoutMs = 10_000): Promise<number[]> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + timeoutMs;
  let left = pids;
  while (left.length > 0 && Date.now() < deadline) {
    const states = await Promise.all(left.map(pidRunning));
    left = left.filter((_, i) => states[i]);
    if (left.length > 0) await sleep(25);
  }
  return left;
}
