// Is sshd really there? A TCP accept alone is not enough (a dying sshd or a
// half-set-up namespace can accept): wait for the "SSH-" identification line.
import { connect } from 'node:net';
import { LabTimeoutError } from './errors.js';

export type BannerResult = { kind: 'banner'; banner: string } | { kind: 'refused' } | { kind: 'timeout' } | { kind: 'error'; message: string };

export function probeSsh(address: string, port: number, timeoutMs = 2000): Promise<BannerResult> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    let buf = '';
    const done = (r: BannerResult) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ kind: 'timeout' }), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const line = buf.split('\n').find((l) => l.startsWith('SSH-'));
      if (line !== undefined && buf.includes('\n')) done({ kind: 'banner', banner: line.trim() });
    });
    sock.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? { kind: 'refused' } : { kind: 'error', message: e.code ?? e.message }));
    sock.on('close', () => done({ kind: 'error', message: `closed before banner (got ${JSON.stringify(buf.slice(0, 80))})` }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until sshd sends its banner. `alive` lets the caller fail fast when the
 * host's processes are gone, and `describe` adds diagnostics (e.g. the log tail).
 */
export async function waitForBanner(
  address: string,
  port: number,
  opts: { timeoutMs?: number; alive?: () => boolean; context?: Record<string, unknown>; describe?: () => Promise<string> } = {},
): Promise<string> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: BannerResult = { kind: 'timeout' };
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    last = await probeSsh(address, port, 1500);
    if (last.kind === 'banner') return last.banner;
    const dead = opts.alive !== undefined && !opts.alive();
    if (dead || Date.now() > deadline) {
      const detail = opts.describe ? await opts.describe() : '';
      throw new LabTimeoutError(`sshd at ${address}:${port} ${dead ? 'exited' : 'not ready'} (last probe: ${last.kind})${detail ? `\n${detail}` : ''}`, {
        ...opts.context,
        address,
        port,
        probe: last,
      });
    }
    await sleep(delay);
  }
}

/** Polls until connections to address:port are refused (sshd stopped, host still up). */
export async function waitForRefused(address: string, port: number, timeoutMs = 10_000, context: Record<string, unknown> = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await probeSsh(address, port, 1000);
    if (r.kind === 'refused') return;
    if (Date.now() > deadline) throw new LabTimeoutError(`sshd at ${address}:${port} still answers (${r.kind})`, { ...context, address, port });
    await sleep(50);
  }
}
