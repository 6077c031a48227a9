// Measures the VM lab: image build (cold with --cold, then cached) and booting the
// default 4-VM lab to verified SSH, then tearing it down.
//   npx tsc -p . && node dist/bench/vm-boot.js [--cold] [--runs N]
import { rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VM_CACHE_DIR } from '../src/lab/vm/config.js';
import { ensureVmImage, resolveInputs, vmImageKey } from '../src/lab/vm/image.js';
import { vmLabDown, vmLabUp } from '../src/lab/vm/lab.js';
import { defaultAccel } from '../src/lab/vm/qemu.js';

const args = process.argv.slice(2);
const cold = args.includes('--cold');
const runsArg = args.indexOf('--runs');
const runs = runsArg >= 0 ? Number(args[runsArg + 1]) : 1;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const rows: [string, string][] = [];
  if (cold) {
    const key = vmImageKey(await resolveInputs());
    await rm(join(VM_CACHE_DIR, key), { recursive: true, force: true });
    const t = Date.now();
    const img = await ensureVmImage({ log: (l) => console.error(l) });
    if (!img.built) throw new Error('expected a cold build');
    rows.push(['image build, cold (debs + mmdebstrap + modules + squashfs + initramfs)', secs(Date.now() - t)]);
  }
  const t = Date.now();
  const img = await ensureVmImage();
  rows.push([`image, cached (${img.built ? 'BUILT' : 'hit'}; key ${img.key.slice(0, 12)}, kernel ${img.kernelVersion})`, secs(Date.now() - t)]);

  for (let i = 1; i <= runs; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'vmbench-'));
    try {
      const lab = await vmLabUp({ name: `bench${i}`, dir: join(dir, 'lab') });
      const tm = lab.timings;
      rows.push([`run ${i}: 4 VMs (${defaultAccel()}) qemu started -> all SSH banners`, secs(tm.bootToBannerMs!)]);
      rows.push([`run ${i}: + OpenSSH login with verified host key (all)`, secs(tm.sshVerifyMs!)]);
      rows.push([`run ${i}: lab up total (image lookup, keys, initrds, boot, verify)`, secs(tm.totalMs!)]);
      const td = Date.now();
      await vmLabDown(`bench${i}`, lab.dir);
      rows.push([`run ${i}: down`, secs(Date.now() - td)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
