// An exclusive lock file (O_EXCL create) holding the owner's pid, so a lock left
// by a crashed process is recognised as stale and taken over.
import { open, readFile, unlink, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LabTimeoutError } from './errors.js';

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 15 * 60_000): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      // An empty file is a lock being written right now; only a dead owner is stale.
      if (Number.isFinite(owner) && owner > 0 && !pidAlive(owner)) {
        await unlink(path).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) throw new LabTimeoutError(`lock ${path} still held by pid ${owner}`, { path, owner });
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => {});
  }
}
