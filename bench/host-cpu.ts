// What a no-op check costs the HOST, against the floor's `true`: the CPU time sshd and everything
// it started spent per connection (its /proc/PID/stat utime + stime + cutime + cstime, read before
// and after N connections; sshd reaps every session, so their time lands in cutime/cstime).
// The batch is the first script a `check` of the playbook sends to the host (facts, probes).
//   npx tsc -p . && node dist/bench/host-cpu.js INVENTORY PLAYBOOK HOST [CONNECTIONS] [ROUNDS]
import { rm } from 'node:fs/promises';
import { runPlaybook } from '../src/core/run.js';
import { raw, type Script } from '../src/core/shell.js';
import { loadInventory } from '../src/inventory/load.js';
import { selectHosts } from '../src/inventory/select.js';
import { openConnection } from '../src/ssh/index.js';
import { loadPlaybook } from '../src/cli/playbook-loader.js';
import type { SshTarget } from '../src/inventory/types.js';
import { median } from './common.js';

async function once<T>(target: SshTarget, f: (exec: (s: Script) => Promise<string>) => Promise<T>): Promise<T> {
  const c = await openConnection(target, { acceptNewHostKeys: false });
  try {
    return await f(async (s) => (await c.exec(s, {})).stdout);
  } finally {
    await c.close();
  }
}

/** sshd's own and its reaped children's CPU, in clock ticks. */
async function sshdTicks(target: SshTarget): Promise<number> {
  const stat = await once(target, (exec) => exec(raw('p=$(cat /run/sshd.pid 2>/dev/null || pgrep -o -x sshd); cat /proc/$p/stat; getconf CLK_TCK')));
  const [line, tck] = stat.trim().split('\n');
  const f = line!.slice(line!.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / Number(tck);
}

async function main(): Promise<void> {
  const [invFile, pbName, hostName, n = '20', rounds = '3'] = process.argv.slice(2);
  if (!invFile || !pbName || !hostName) throw new Error('usage: host-cpu INVENTORY PLAYBOOK HOST [CONNECTIONS] [ROUNDS]');
  const inventory = loadInventory(invFile);
  const { name, playbook, projectDir } = await loadPlaybook(pbName);
  const hosts = selectHosts(inventory, 'all', hostName);
  const target = hosts[0]?.ssh;
  if (!target) throw new Error(`no host ${hostName}`);
  // The batch: what a rerun of check sends first (a state dir of its own; the first run caches the facts).
  let batch: Script | undefined;
  const state = `/tmp/provision-host-cpu-${process.pid}`;
  for (let i = 0; i < 2; i++)
    await runPlaybook({
      inventory,
      playbook,
      playbookName: name,
      hosts,
      mode: 'check',
      forks: 1,
      projectDir,
      stateDir: state,
      connect: async (t) => {
        const c = await openConnection(t, { acceptNewHostKeys: false });
        const exec = c.exec.bind(c);
        c.exec = (s, o) => {
          if (i === 1) batch ??= s; // the second run: facts cached, so facts and probes go together
          return exec(s, o);
        };
        return c;
      },
    });
  await rm(state, { recursive: true, force: true });
  if (!batch) throw new Error('check sent no script');
  const variants: [string, Script][] = [
    // `true` as provision sends a script (through /bin/sh -c): the session and the shell, no probe.
    ['true', raw('true')],
    [`${name} batch (${batch.text.length} bytes)`, batch],
  ];
  const per = new Map<string, number[]>(variants.map(([v]) => [v, []]));
  for (let r = 0; r < Number(rounds); r++)
    for (const [v, script] of variants) {
      const t0 = await sshdTicks(target);
      for (let i = 0; i < Number(n); i++) await once(target, (exec) => exec(script));
      per.get(v)!.push(((await sshdTicks(target)) - t0) / Number(n));
    }
  for (const [v, ms] of per)
    console.log(`${v.padEnd(36)} ${median(ms).toFixed(1)} ms of the host's CPU per connection (rounds: ${ms.map((x) => x.toFixed(1)).join(', ')})`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
