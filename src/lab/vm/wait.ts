// Waiting for a VM's sshd through qemu's port forward. Unlike a local sshd, a TCG
// guest can take seconds to fork+exec sshd for a new connection, and a probe that
// gives up early (then retries) only adds load: each probe waits longer than the last.
import { LabTimeoutError } from '../errors.js';
import { probeSsh } from '../probe.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitForVmSshd(
  port: number,
  opts: { timeoutMs: number; alive: () => boolean; context?: Record<string, unknown>; describe?: () => Promise<string> },
): Promise<string> {
  const deadline = Date.now() + opts.timeoutMs;
  let probeMs = 3000;
  let last = 'none';
  for (;;) {
    const r = await probeSsh('127.0.0.1', port, probeMs);
    if (r.kind === 'banner') return r.banner;
    last = r.kind === 'error' ? r.message : r.kind;
    // A timeout means the guest accepted but is slow (or has no address yet): be more patient.
    if (r.kind === 'timeout') probeMs = Math.min(probeMs * 2, 20_000);
    const dead = !opts.alive();
    if (dead || Date.now() > deadline) {
      const detail = opts.describe ? await opts.describe() : '';
      throw new LabTimeoutError(
        `VM sshd on 127.0.0.1:${port} ${dead ? 'is gone (qemu exited)' : 'not ready'} (last probe: ${last})${detail ? `\n${detail}` : ''}`,
        {
          ...opts.context,
          port,
        },
      );
    }
    await sleep(250);
  }
}
