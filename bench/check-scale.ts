// `provision check` (sample playbook) at scale on the container lab: check time against --forks at
// one size (the sweep the CLI's default forks comes from), and one check of each size with the
// controller's CPU and peak memory, to give the memory each further host costs. The hosts are
// fresh (never converged): a check reads and plans the same whether it then finds drift or not.
// Writes bench/results/check-scale.json. Run it alone, under the container-lab lock:
//   npx tsc -p . && flock /tmp/provision-ct.lock node dist/bench/check-scale.js --sweep 5,10,25,50,100 --sweep-size 100 --sizes 100,1000 --runs 3
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labDown, labUp, type LabUpResult } from '../src/lab/index.js';
import { flag, machine, median, numbers, sshFloor, timed } from './common.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(ROOT, 'dist/src/cli.js');
const LAB = 'bench-check-scale';

const sweep = numbers(flag('sweep', '5,10,25,50,100'));
const sweepSize = Number(flag('sweep-size', '100'));
const sizes = numbers(flag('sizes', '100,1000'));
const runs = Number(flag('runs', '3'));
const forks = Number(flag('forks', '10'));
const out = resolve(flag('out', join(ROOT, 'bench/results/check-scale.json')));

interface CheckSample {
  hosts: number;
  forks: number;
  wallMs: number;
  cpuS: number;
  peakTreeRssMb: number;
  /** Hosts the check reached and planned (exit 3: drift found on fresh hosts). */
  planned: number;
  load1: number;
}

async function check(lab: LabUpResult, size: number, f: number): Promise<CheckSample> {
  const r = await timed('node', [CLI, 'check', lab.inventory, 'sample', '--forks', String(f), '--json', '--state-dir', join(lab.dir, 'state')]);
  if (r.code !== 0 && r.code !== 3) throw new Error(`check exited ${r.code}\n${r.stderr.slice(-3000)}`);
  const report = JSON.parse(r.stdout) as { hosts: { error?: string; recap: { failed: number } }[] };
  const planned = report.hosts.filter((h) => !h.error && h.recap.failed === 0).length;
  if (planned !== size) throw new Error(`check planned ${planned} of ${size} hosts\n${r.stderr.slice(-3000)}`);
  const s = { hosts: size, forks: f, wallMs: r.wallMs, cpuS: r.cpuS, peakTreeRssMb: r.peakTreeRssMb, planned, load1: r.load1 };
  console.error(
    `  ${size} hosts, forks ${f}: ${(r.wallMs / 1000).toFixed(1)} s, cpu ${r.cpuS.toFixed(1)} s, ${r.peakTreeRssMb.toFixed(0)} MB, load ${r.load1}`,
  );
  return s;
}

async function up(size: number): Promise<{ lab: LabUpResult; upMs: number }> {
  await labDown(LAB).catch(() => {});
  const t = Date.now();
  const lab = await labUp({ name: LAB, hosts: size, driverOptions: { log: (l) => console.error(l) } });
  const upMs = Date.now() - t;
  console.error(`lab of ${size} hosts up in ${(upMs / 1000).toFixed(1)} s`);
  return { lab, upMs };
}

async function main(): Promise<void> {
  const result: Record<string, unknown> = { date: new Date().toISOString(), machine: machine(), command: `node ${process.argv.slice(1).join(' ')}` };
  await mkdir(dirname(out), { recursive: true });
  const save = () => writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  const scale: (CheckSample & { labUpS: number; floorS: number })[] = [];
  try {
    if (sweep.length > 0) {
      const { lab, upMs } = await up(sweepSize);
      const rows = [];
      for (const f of sweep) {
        const load1 = loadavg()[0]!;
        const floorMs = await sshFloor(lab.hosts, lab.keyFile, lab.knownHosts, f);
        const samples: CheckSample[] = [];
        for (let i = 0; i < runs; i++) samples.push(await check(lab, sweepSize, f));
        rows.push({
          forks: f,
          floorS: floorMs / 1000,
          checkS: median(samples.map((s) => s.wallMs)) / 1000,
          cpuS: median(samples.map((s) => s.cpuS)),
          peakMb: Math.max(...samples.map((s) => s.peakTreeRssMb)),
          load1,
          samples,
        });
        result.forksSweep = { hosts: sweepSize, runs, rows };
        // The sweep's lab is also the scale run of its size: its first check at --forks.
        if (f === forks && sizes.includes(sweepSize)) scale.push({ ...samples[0]!, labUpS: upMs / 1000, floorS: floorMs / 1000 });
        await save();
      }
      console.log(`\n| forks | floor s | check s (median of ${runs}) | controller CPU s | peak MB | load |\n|---|---|---|---|---|---|`);
      for (const r of rows)
        console.log(
          `| ${r.forks} | ${r.floorS.toFixed(1)} | ${r.checkS.toFixed(1)} | ${r.cpuS.toFixed(1)} | ${Math.round(r.peakMb)} | ${r.load1.toFixed(1)} |`,
        );
    }
    for (const size of sizes.filter((n) => !scale.some((s) => s.hosts === n))) {
      const { lab, upMs } = await up(size);
      const floorMs = await sshFloor(lab.hosts, lab.keyFile, lab.knownHosts, forks);
      scale.push({ ...(await check(lab, size, forks)), labUpS: upMs / 1000, floorS: floorMs / 1000 });
      result.scale = scale;
      await save();
    }
    console.log(`\n| hosts | lab up s | floor s | check s | controller CPU s | peak MB | load |\n|---|---|---|---|---|---|---|`);
    for (const s of scale)
      console.log(
        `| ${s.hosts} | ${s.labUpS.toFixed(1)} | ${s.floorS.toFixed(1)} | ${(s.wallMs / 1000).toFixed(1)} | ${s.cpuS.toFixed(1)} | ${Math.round(s.peakTreeRssMb)} | ${s.load1.toFixed(1)} |`,
      );
    if (scale.length >= 2) {
      const [a, b] = [scale[0]!, scale[scale.length - 1]!];
      const perHostKb = ((b.peakTreeRssMb - a.peakTreeRssMb) * 1024) / (b.hosts - a.hosts);
      result.memoryPerHostKb = perHostKb;
      console.log(`\ncontroller peak RSS grows ${perHostKb.toFixed(0)} KB per host (${a.hosts} -> ${b.hosts} hosts, forks ${forks})`);
      await save();
    }
  } finally {
    await labDown(LAB).catch(() => {});
  }
  console.log(`(${out})`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
