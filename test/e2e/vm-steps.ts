// The e2e scenarios' shared steps: a timer that records each step's duration, the lab's own shell
// commands on a VM (written out whole, so `raw`), and a bounded wait. One copy for every scenario file.
import assert from 'node:assert/strict';
import { raw } from '../../src/core/shell.js';
import { sshEndpoint } from '../../src/lab/vm/host-state.js';
import type { VmLab } from '../../src/lab/vm/lab.js';
import { sshExec } from '../../src/lab/vm/ssh.js';

/** `timed(what, f)` runs f and records its duration in `timings[what]` (ms), even when it throws. */
export function timer(timings: Record<string, number>) {
  return async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    try {
      return await f();
    } finally {
      timings[what] = Date.now() - t;
    }
  };
}

/** `sh` runs a test script on a lab VM; `on` also asserts it exited 0 and returns its stdout. The lab is read at each call (scenarios re-address it). */
export function vmShell(labOf: () => VmLab) {
  const sh = (host: string, script: string) => sshExec(sshEndpoint(labOf().state, host), raw(script), { timeoutMs: 120_000 });
  const on = async (host: string, script: string) => {
    const r = await sh(host, script);
    assert.equal(r.code, 0, `${host}: ${script}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  return { sh, on };
}

/** Polls `cond` every 0.5 s; fails the test when it is not true within `limitMs`. Returns the time it took. */
export async function waitFor(what: string, cond: () => Promise<boolean>, limitMs: number): Promise<number> {
  const t = Date.now();
  while (!(await cond())) {
    assert.ok(Date.now() - t < limitMs, `${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return Date.now() - t;
}
