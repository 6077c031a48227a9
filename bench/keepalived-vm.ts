// keepalived as the health monitor, on the VM lab (real IPVS): the lab's TUN inventory with
// health.monitor keepalived; up (web app, then site); verify; rs1's web server stopped ->
// keepalived removes it; started -> back with its weight and method; a second up changes
// nothing; mon, never needed, is not running. Prints and writes bench/results/keepalived-<m>.json.
//   npx tsc -p . && node dist/bench/keepalived-vm.js [tun|dr|nat]
import { raw } from '../src/core/shell.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sshEndpoint } from '../src/lab/vm/host-state.js';
import { vmLabDown, vmLabUp } from '../src/lab/vm/lab.js';
import { sshExec } from '../src/lab/vm/ssh.js';
import type { RunReport } from '../src/core/types.js';
import type { Forwarding } from '../src/lvs/types.js';
import { provision } from '../test/helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const method = (process.argv[2] ?? 'tun') as Forwarding;
const name = `keepalived-${method}`;
const flag = { tun: '-i', dr: '-g', nat: '-m' }[method];

async function main(): Promise<void> {
  const timings: Record<string, number> = {};
  const timed = async <T>(what: string, f: () => Promise<T>) => {
    const t = Date.now();
    try {
      return await f();
    } finally {
      timings[what] = Date.now() - t;
      console.error(`${what}: ${timings[what]} ms`);
    }
  };
  const lab = await timed('boot', () => vmLabUp({ name, forwarding: method }));
  const results: Record<string, unknown> = { method, monitor: 'keepalived', timings };
  try {
    const on = async (host: string, script: string) => {
      const r = await sshExec(sshEndpoint(lab.state, host), raw(script), { timeoutMs: 120_000 });
      if (r.code !== 0) throw new Error(`${host}: ${script}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const must = (ok: boolean, what: string) => {
      if (!ok) throw new Error(`FAILED: ${what}`);
      console.error(`ok: ${what}`);
    };
    const inv = join(lab.dir, 'inventory-keepalived.yaml');
    writeFileSync(inv, readFileSync(lab.inventory, 'utf8').replace('monitor: mon', 'monitor: keepalived'));
    const cli = (args: string[]) => provision([...args, '--state-dir', join(lab.dir, 'state')], { timeoutMs: 600_000 });
    const web = await timed('up-web', () => cli(['up', inv, 'sample', '--limit', 'real_servers', '-e', 'demo_port=80']));
    must(web.code === 0, 'web app up');
    const up = await timed('up', () => cli(['up', inv]));
    must(up.code === 0, `site up with keepalived\n${up.stdout.slice(-3000)}`);
    const v = await timed('verify', () => provision(['verify', inv, '--json'], { timeoutMs: 600_000 }));
    results.verify = (JSON.parse(v.stdout) as { counts: unknown }).counts;
    must(v.code === 0, `verify passes: ${JSON.stringify(results.verify)}`);
    must((await on('director', 'systemctl is-active mon || true')).trim() !== 'active', 'mon is not running');
    const table = () => on('director', 'ipvsadm -S -n');
    const waitFor = async (cond: () => Promise<boolean>, limitMs: number) => {
      const t = Date.now();
      while (!(await cond())) {
        if (Date.now() - t > limitMs) return -1;
        await new Promise((r) => setTimeout(r, 250));
      }
      return Date.now() - t;
    };
    await on('rs1', '/etc/init.d/demo-web stop; true');
    timings.removeAfterStop = await waitFor(async () => !(await table()).includes('-r 10.0.0.16:80'), 30_000);
    must(timings.removeAfterStop >= 0, `keepalived removed rs1 in ${timings.removeAfterStop} ms`);
    await on('rs1', '/etc/init.d/demo-web start');
    timings.readdAfterStart = await waitFor(async () => (await table()).includes(`-r 10.0.0.16:80 ${flag} -w 1`), 30_000);
    must(timings.readdAfterStart >= 0, `keepalived re-added rs1 (${flag}, weight 1) in ${timings.readdAfterStart} ms`);
    const again = await timed('up-noop', () => cli(['up', inv, '--json']));
    const changed = (JSON.parse(again.stdout) as RunReport).hosts.reduce((a, h) => a + h.recap.changed, 0);
    must(again.code === 0 && changed === 0, `second up: ${changed} changed`);
    results.ok = true;
  } finally {
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(join(ROOT, `bench/results/keepalived-${method}.json`), `${JSON.stringify(results, null, 2)}\n`);
    console.log(JSON.stringify(results, null, 2));
    if (!process.env.PROVISION_E2E_KEEP) await vmLabDown(name, lab.dir).catch(() => {});
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
