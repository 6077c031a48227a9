// What an idle lab VM costs the host: boots the default 4-VM lab, lets it settle, then
// samples each qemu's CPU time (utime+stime from /proc/<pid>/stat) over a window.
// Under TCG every guest process spawn is expensive, so a guest that polls with a
// process (e.g. `sleep` in a loop) shows up here.
//   npx tsc -p . && node dist/bench/vm-idle.js [--settle S] [--window S]
import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vmLabDown, vmLabUp } from '../src/lab/vm/lab.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TICKS = 100; // USER_HZ: /proc/<pid>/stat times are in 1/100 s on Linux

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function main(): Promise<void> {
  const settleS = arg('--settle', 30);
  const windowS = arg('--window', 30);
  const dir = await mkdtemp(join(tmpdir(), 'vmidle-'));
  try {
    const lab = await vmLabUp({ name: 'idle', dir: join(dir, 'lab') });
    await sleep(settleS * 1000);
    const pids = lab.state.hosts.map((h) => [h.name, h.driver.pid!] as const);
    const before = await Promise.all(pids.map(([, pid]) => cpuTicks(pid)));
    const t = Date.now();
    await sleep(windowS * 1000);
    const after = await Promise.all(pids.map(([, pid]) => cpuTicks(pid)));
    const secs = (Date.now() - t) / 1000;
    let total = 0;
    for (const [i, [name]] of pids.entries()) {
      const pct = ((after[i]! - before[i]!) / TICKS / secs) * 100;
      total += pct;
      console.log(`${name.padEnd(9)} ${pct.toFixed(1).padStart(5)}% of a host core while idle`);
    }
    console.log(`${'all'.padEnd(9)} ${total.toFixed(1).padStart(5)}% (settle ${settleS} s, window ${secs.toFixed(1)} s)`);
    await vmLabDown('idle', lab.dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
