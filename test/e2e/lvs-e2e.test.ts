// End to end on VMs with a real IPVS kernel, for each forwarding method (TUN as the seed, DR,
// NAT): up -> verify -> rs1's web server stopped -> mon removes its rule, all traffic to rs2
// (failed requests counted) -> started -> rule back with its weight and method -> a second up
// changes nothing -> check: no drift -> a hand `ipvsadm -d` -> check shows it -> up repairs ->
// verify passes. Timings and failed-request counts go to bench/results/e2e-<method>.json.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sshEndpoint } from '../../src/lab/vm/driver.js';
import { vmLabDown, vmLabUp, type VmLab } from '../../src/lab/vm/lab.js';
import { sshExec } from '../../src/lab/vm/ssh.js';
import { provision } from '../helpers/cli.js';
import type { RunReport } from '../../src/core/types.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const VIP = '10.0.0.18';
const INTERVAL = 5; // the lab inventory's mon interval (s)

// PROVISION_E2E_METHODS=tun,dr narrows the run while developing; CI runs all three.
const METHODS = (process.env.PROVISION_E2E_METHODS ?? 'tun,dr,nat').split(',') as ('tun' | 'dr' | 'nat')[];
for (const method of METHODS) {
  describe(`LVS e2e, VS/${method.toUpperCase()}`, () => {
    const name = `e2e-${method}`;
    let lab: VmLab;
    let stateDir: string;
    const timings: Record<string, number> = {};
    const results: Record<string, unknown> = { method, timings };
    const on = async (host: string, script: string) => {
      const r = await sshExec(sshEndpoint(lab.state, host), script, { timeoutMs: 120_000 });
      assert.equal(r.code, 0, `${host}: ${script}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const timed = async <T>(what: string, f: () => Promise<T>) => {
      const t = Date.now();
      try { return await f(); } finally { timings[what] = Date.now() - t; }
    };
    const cli = (args: string[]) => provision([...args, '--state-dir', stateDir], { timeoutMs: 600_000 });
    const verify = (args: string[] = []) => provision(['verify', lab.inventory, ...args], { timeoutMs: 600_000 });
    const table = () => on('director', 'ipvsadm -S -n');
    const waitFor = async (what: string, cond: () => Promise<boolean>, limitMs: number) => {
      const t = Date.now();
      while (!(await cond())) {
        assert.ok(Date.now() - t < limitMs, `${what}: not within ${limitMs} ms`);
        await new Promise((r) => setTimeout(r, 500));
      }
      return Date.now() - t;
    };

    before(async () => {
      stateDir = mkdtempSync(join(tmpdir(), `provision-${name}-`));
      lab = await timed('boot', () => vmLabUp({ name, forwarding: method }));
    });
    after(async () => {
      // PROVISION_E2E_KEEP=1 leaves the VMs up for a post-mortem (`provision lab down` is not used: vm labs live in /tmp).
      if (!process.env.PROVISION_E2E_KEEP) await vmLabDown(name, lab?.dir).catch(() => {});
      mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
      writeFileSync(join(ROOT, `bench/results/e2e-${method}.json`), `${JSON.stringify(results, null, 2)}\n`);
    });

    /** What the site playbook changes that a rollback must restore: IPVS table, VIPs, mon, rs1's tunnel/ARP state. */
    const fingerprint = async () => ({
      director: await on('director', 'ipvsadm -S -n; ip -o -4 addr show dev eth1 | awk \'{print $4, $NF}\'; systemctl is-enabled mon; systemctl is-active mon; sha256sum /etc/mon/mon.cf; ls /usr/lib/mon/alert.d; true'),
      rs1: await on('rs1', 'ip -o -4 addr show | awk \'{print $2, $4}\'; cat /proc/sys/net/ipv4/conf/all/arp_ignore /proc/sys/net/ipv4/conf/all/arp_announce /proc/sys/net/ipv4/conf/all/rp_filter; systemctl is-enabled lvs-realserver; ls /etc/sysctl.d; true'),
    });
    let beforeSite: Awaited<ReturnType<typeof fingerprint>>;
    let siteRun = '';

    it('up converges the cluster and verify proves real traffic through the VIP', async () => {
      const web = await timed('up-web', () => cli(['up', lab.inventory, 'sample', '--limit', 'real_servers', '-e', 'demo_port=80']));
      assert.equal(web.code, 0, web.stdout + web.stderr);
      beforeSite = await fingerprint();
      const up = await timed('up', () => cli(['up', lab.inventory, '--json']));
      assert.equal(up.code, 0, up.stdout + up.stderr);
      siteRun = (JSON.parse(up.stdout) as RunReport).id;
      const v = await timed('verify', () => verify(['--json']));
      assert.equal(v.code, 0, v.stdout);
      const rep = JSON.parse(v.stdout) as { counts: Record<string, Record<string, number>> };
      assert.deepEqual(rep.counts.web, { rs1: 10, rs2: 10 });
      results.verify = rep.counts;
    });

    if (method === 'tun') {
      it('rollback of the site run restores the IPVS table, VIPs, mon and the real servers exactly; verify then fails as before; up restores', async () => {
        const rb = await timed('rollback', () => cli(['rollback', lab.inventory, siteRun]));
        assert.equal(rb.code, 0, rb.stdout + rb.stderr);
        assert.deepEqual(await fingerprint(), beforeSite);
        const v = await verify(['--json', '-n', '4']);
        assert.equal(v.code, 1, 'before the site run the VIP did not work, and again it does not');
        const again = await cli(['rollback', lab.inventory, siteRun]);
        assert.match(again.stdout, /already rolled back/);
        const up = await timed('up-after-rollback', () => cli(['up', lab.inventory]));
        assert.equal(up.code, 0, up.stdout);
        const ok = await verify();
        assert.equal(ok.code, 0, ok.stdout);
      });
    }

    it('a dead real server is removed by mon within two intervals, and re-added with its weight and method when back', async () => {
      const flag = method === 'tun' ? '-i' : method === 'dr' ? '-g' : '-m';
      // Requests from the client all through the failover, to count the ones that failed.
      await on('client', `setsid sh -c 'while :; do curl -s -m 1 -o /dev/null -w "%{http_code}\\n" http://${VIP}/ || echo FAIL; sleep 0.2; done' > /tmp/failover.log 2>&1 < /dev/null & echo $! > /tmp/failover.pid`);
      await on('rs1', 'systemctl stop demo-web 2>/dev/null; /etc/init.d/demo-web stop; true');
      const removedMs = await waitFor('rs1 removed', async () => !(await table()).includes('-r 10.0.0.16:80'), 2 * INTERVAL * 1000 + 8000);
      timings.removeAfterStop = removedMs;
      const after = await on('client', 'for i in 1 2 3 4 5 6; do curl -s -m 2 http://10.0.0.18/ || echo FAIL; echo; done');
      assert.equal((after.match(/Hello from rs2/g) ?? []).length, 6, after);
      await on('rs1', '/etc/init.d/demo-web start');
      const backMs = await waitFor('rs1 back', async () => (await table()).includes(`-r 10.0.0.16:80 ${flag} -w 1`), 2 * INTERVAL * 1000 + 8000);
      timings.readdAfterStart = backMs;
      // Killed by pid: a pkill -f pattern would match this very command line (lab-notes' trap).
      const log = await on('client', 'kill $(cat /tmp/failover.pid); sleep 1.5; cat /tmp/failover.log');
      const lines = log.split('\n').filter(Boolean);
      results.failover = { requests: lines.length, failed: lines.filter((l) => l !== '200').length, removedMs, backMs };
      assert.ok(lines.length > 10, 'the client kept sending requests');
    });

    it('a second up changes nothing; check reports no drift', async () => {
      const up = await timed('up-noop', () => cli(['up', lab.inventory, '--json']));
      assert.equal(up.code, 0, up.stderr);
      for (const h of (JSON.parse(up.stdout) as RunReport).hosts) assert.equal(h.recap.changed, 0, `${h.host}: ${JSON.stringify(h.tasks.filter((t) => t.status === 'changed'))}`);
      const check = await timed('check', () => cli(['check', lab.inventory]));
      assert.equal(check.code, 0, check.stdout);
    });

    it('a hand `ipvsadm -d` is drift: check shows it, up repairs it, verify passes', async () => {
      // Stop mon first: it would re-add the server by itself (that is its job).
      await on('director', 'systemctl stop mon && ipvsadm -d -t 10.0.0.18:80 -r 10.0.0.17:80');
      const check = await cli(['check', lab.inventory, '--limit', 'director']);
      assert.equal(check.code, 3, check.stdout + check.stderr);
      assert.match(check.stdout, /\+-a -t 10\.0\.0\.18:80 -r 10\.0\.0\.17:80 -[gim] -w 1/);
      const up = await timed('up-repair', () => cli(['up', lab.inventory, '--limit', 'director']));
      assert.equal(up.code, 0, up.stdout);
      assert.match(await table(), /-r 10\.0\.0\.17:80/);
      await on('director', 'systemctl start mon');
      const v = await timed('verify-after-repair', () => verify());
      assert.equal(v.code, 0, v.stdout);
    });

    it('verify names the cause when a real server is broken, and up repairs it', async () => {
      // One fault per method, each a classic LVS failure: strict rp_filter (TUN), a real server
      // answering ARP for the VIP (DR), a real server not routing back through the director (NAT).
      const sabotage = {
        tun: { cmd: 'sysctl -w net.ipv4.conf.all.rp_filter=1', cause: /rp_filter drop on rs1/ },
        dr: { cmd: 'sysctl -w net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0', cause: /ARP problem on rs1/ },
        nat: { cmd: 'ip route replace default via 10.0.0.17', cause: /NAT gateway wrong on rs1/ },
      }[method];
      await on('rs1', sabotage.cmd);
      const v = await timed('verify-broken', () => verify(['--json']));
      assert.equal(v.code, 1, v.stdout);
      const rep = JSON.parse(v.stdout) as { checks: { ok: boolean; cause?: string }[]; counts: unknown };
      const causes = rep.checks.filter((c) => !c.ok).map((c) => c.cause ?? '');
      assert.ok(causes.some((c) => sabotage.cause.test(c)), causes.join(' | '));
      results.diagnosis = { fault: sabotage.cmd, causes, counts: rep.counts };
      const up = await timed('up-repair-rs1', () => cli(['up', lab.inventory, '--limit', 'rs1']));
      assert.equal(up.code, 0, up.stdout);
      const ok = await verify();
      assert.equal(ok.code, 0, ok.stdout);
    });
  });
}
