// Measures what each task's probe costs ON the host (inside one batch, timed by the host's
// own clock, so the SSH round trip is excluded). Under qemu TCG every process spawn is
// expensive; this shows which probes dominate a run.
//   npx tsc -p . && node dist/bench/probe-cost.js INVENTORY PLAYBOOK [HOST...]
import { Script, sh } from '../src/core/shell.js';
import { gatherFacts } from '../src/core/engine.js';
import { hostWork } from '../src/core/run.js';
import { loadInventory } from '../src/inventory/load.js';
import { selectHosts } from '../src/inventory/select.js';
import { openConnection } from '../src/ssh/index.js';
import { loadPlaybook } from '../src/cli/playbook-loader.js';

async function main(): Promise<void> {
  const [invFile, pbName, ...only] = process.argv.slice(2);
  if (!invFile || !pbName) throw new Error('usage: probe-cost INVENTORY PLAYBOOK [HOST...]');
  const inventory = loadInventory(invFile);
  const { playbook, projectDir } = await loadPlaybook(pbName);
  const hosts = selectHosts(inventory, 'all').filter((h) => only.length === 0 || only.includes(h.name));
  for (const h of hosts) {
    const conn = await openConnection(h.ssh, { acceptNewHostKeys: false });
    try {
      const facts = await gatherFacts(conn);
      const work = hostWork(inventory, playbook, h, projectDir);
      const { tasks } = work.build({ host: h.name, facts, vars: h.vars, projectDir, inventory });
      if (tasks.length === 0) continue;
      const parts = tasks.map((t, i) => {
        const s = t.probe({ host: h.name, facts, vars: h.vars, projectDir, inventory }).script;
        return sh`s=$(date +%s%N)\n( ${s}\n) >/dev/null 2>&1 </dev/null\ne=$(date +%s%N)\necho "${i} $(( (e - s) / 1000000 ))"`;
      });
      const t0 = Date.now();
      const r = await conn.exec(Script.join(parts, '\n'), { become: true });
      const wall = Date.now() - t0;
      const rows = r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ').map(Number) as [number, number]);
      const total = rows.reduce((a, [, ms]) => a + ms, 0);
      console.log(`\n${h.name}: ${tasks.length} probes, ${total} ms on the host, ${wall} ms wall for the batch`);
      for (const [i, ms] of rows.sort((a, b) => b[1] - a[1])) {
        console.log(`  ${String(ms).padStart(6)} ms  ${tasks[i]!.module.padEnd(12)} ${tasks[i]!.name}`);
      }
    } finally {
      await conn.close();
    }
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
