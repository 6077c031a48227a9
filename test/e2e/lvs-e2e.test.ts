// End to end on one set of VMs with a real IPVS kernel.
// First the VM lab itself: inventory, host keys, IPVS and ipip in the kernel, the LAN, systemd,
// the agent, a hand-made VS/TUN rule set balancing real traffic, and save/restore of every VM.
// Then, for each forwarding method (TUN as the seed, DR, NAT): up -> verify -> rs1's web server
// stopped -> mon removes its rule, all traffic to rs2 (failed requests counted) -> started ->
// rule back with its weight and method -> a second up changes nothing -> check: no drift -> a
// hand `ipvsadm -d` -> check shows it -> up repairs -> verify passes -> verify names the cause of
// a broken real server, up repairs it.
// Between methods: TUN's site run is rolled back (everything exactly as before, verify fails as
// before) and DR is built on those hosts, which proves the rollback left them clean; NAT starts
// from the VMs saved after the web app was installed, re-addressed (its client sits on another
// subnet behind the director). Last, the running cluster is switched from mon to keepalived.
// A backup director joins the TUN cluster (before its rollback) and the NAT cluster (last): its
// master is killed during a long download (test/e2e/backup-director.ts).
// One boot for all of it: booting takes a minute under TCG, a restore seconds.
// Timings and failed-request counts go to bench/results/e2e-<method>.json and e2e-lab.json.
import { timer, vmShell, waitFor } from './vm-steps.js';
import { raw } from '../../src/core/shell.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { vmDriver } from '../../src/lab/vm/driver.js';
import { sshEndpoint, type VmHostDriverState } from '../../src/lab/vm/host-state.js';
import { labDir } from '../../src/lab/index.js';
import { vmLabDown, vmLabOpen, vmLabRelayout, vmLabRestore, vmLabSave, vmLabUp, type VmLab } from '../../src/lab/vm/lab.js';
import { sshExec } from '../../src/lab/vm/ssh.js';
import { provision } from '../helpers/cli.js';
import { backupDirector } from './backup-director.js';
import type { RunReport } from '../../src/core/types.js';
import { assertUdpVerified, startStandIn, stopStandIn, withUdpService } from './udp-service.js';
import { execResult } from '../../src/core/host-output.js';

type Method = 'tun' | 'dr' | 'nat';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const VIP = '10.0.0.18';
const INTERVAL = 5; // the lab inventory's mon interval (s)
// How long a monitor may take to act: two intervals, plus slack for TCG guests on 2 shared cores
// (measured: mon removed rs1 after 20.1 s and re-added it after 14.7 s; one CI run exceeded 18 s).
const MONITOR_LIMIT_MS = 2 * INTERVAL * 1000 + 20_000;
const LAB = 'e2e';

// PROVISION_E2E_METHODS=tun,dr narrows the run while developing; CI runs all three.
// A backup director (test/e2e/backup-director.ts) on VS/TUN (mon) and VS/NAT (keepalived): in CI.
// PROVISION_E2E_HA=0 leaves both out while developing something else.
const HA = process.env.PROVISION_E2E_HA !== '0';
// keepalived's own state on the keepalived cluster (check exit 0 with rs1 out of service, status
// down since, a hand-deleted member re-added): in CI; PROVISION_E2E_KSTATE=0 leaves it out.
const KSTATE = process.env.PROVISION_E2E_KSTATE !== '0';
// A udp (DNS) service on VS/DR, verified with DNS queries through the VIP: in CI; PROVISION_E2E_UDP=0 leaves it out.
const UDP = process.env.PROVISION_E2E_UDP !== '0';
const METHODS = (process.env.PROVISION_E2E_METHODS ?? 'tun,dr,nat').split(',').filter((m): m is Method => ['tun', 'dr', 'nat'].includes(m));

/** Every running process whose command line mentions `needle`. */
async function processesMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(needle)) pids.push(Number(entry));
  }
  return pids;
}

const writeResults = (name: string, results: unknown) => {
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, `bench/results/e2e-${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
};

describe(`VM lab, then LVS end to end on the same VMs: ${METHODS.map((m) => `VS/${m.toUpperCase()}`).join(', ')}`, () => {
  let lab: VmLab;
  let stateDir: string;
  const labTimings: Record<string, number> = {};
  const labResults: Record<string, unknown> = { timings: labTimings };
  const labTimed = timer(labTimings);
  const { sh, on } = vmShell(() => lab);
  const table = () => on('director', 'ipvsadm -S -n');
  /** What a VM's saved state must bring back: a marker, addresses, routes, modules, ARP sysctls, running services. */
  const vmFingerprint = () =>
    Promise.all(
      lab.hosts.map((h) =>
        on(
          h.name,
          "cat /root/lab-marker 2>/dev/null; ip -o addr | awk '{print $2, $4}'; ip route; lsmod | awk 'NR>1 {print $1}' | sort; cat /proc/sys/net/ipv4/conf/all/arp_ignore /proc/sys/net/ipv4/conf/all/rp_filter; systemctl list-units --type=service --state=running --no-legend --plain | awk '{print $1}'; true",
        ),
      ),
    );

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'provision-e2e-'));
    // In the CLI's lab dir: `provision lab save|restore --name e2e` address this lab.
    // Two directors: director2 waits outside the inventory (ha: false) until the backup-director scenario.
    lab = await labTimed('boot', () => vmLabUp({ name: LAB, forwarding: 'tun', directors: 2, ha: false, dir: labDir(LAB) }));
    labResults.boot = lab.timings;
  });
  after(async () => {
    writeResults('lab', labResults);
    await vmLabDown(LAB, lab?.dir).catch(() => {});
  });

  describe('the VM lab', () => {
    let booted: string[];

    it('writes an inventory with the lab hosts, forwarded ports and the LVS service', async () => {
      const inv = load(await readFile(lab.inventory, 'utf8')) as any;
      assert.equal(inv.all.vars.provision_known_hosts_file, './known_hosts');
      assert.deepEqual(Object.keys(inv.all.children).sort(), ['clients', 'directors', 'real_servers']);
      const director = inv.all.children.directors.hosts.director;
      assert.equal(director.ansible_host, '127.0.0.1');
      assert.equal(director.ansible_port, lab.hosts.find((h) => h.name === 'director')!.sshPort);
      assert.equal(director.ansible_ssh_private_key_file, './id_ed25519');
      assert.equal(director.dip, '10.0.0.15');
      assert.equal(inv.all.children.real_servers.hosts.rs2.rip, '10.0.0.17');
      assert.equal(director.lab_lan_addresses, undefined, 'driver hints stay out of the inventory');
      assert.deepEqual(Object.keys(inv.all.children.directors.hosts), ['director'], 'director2 joins with lvs.ha only');
      assert.equal(inv.all.vars.lvs.ha, undefined);
      const svc = inv.all.vars.lvs.services[0];
      assert.equal(svc.vip, VIP);
      assert.equal(svc.forwarding, 'tun');
      assert.deepEqual(
        svc.real_servers.map((r: any) => r.host),
        ['rs1', 'rs2'],
      );
      const known = await readFile(join(lab.dir, 'known_hosts'), 'utf8');
      for (const h of lab.hosts) assert.match(known, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${h.sshPort} ssh-ed25519 `, 'm'));
      assert.equal((await stat(join(lab.dir, 'id_ed25519'))).mode & 0o077, 0, 'private key is private');
    });

    it('gives every VM its own hostname and host key (OpenSSH verifies it)', async () => {
      const names = await Promise.all(lab.hosts.map((h) => on(h.name, 'hostname')));
      assert.deepEqual(
        names.map((n) => n.trim()),
        lab.hosts.map((h) => h.name),
      );
      // A wrong key in known_hosts must make OpenSSH refuse: the check is real.
      const other = lab.state.hosts.find((h) => h.name === 'rs1')!;
      const wrongKnown = join(stateDir, 'wrong_known_hosts');
      await writeFile(wrongKnown, `[127.0.0.1]:${lab.hosts.find((h) => h.name === 'rs2')!.sshPort} ${other.hostKey}\n`);
      const r = await sshExec({ ...sshEndpoint(lab.state, 'rs2', false), knownHosts: wrongKnown }, raw('true'));
      assert.equal(r.code, 255);
      assert.match(r.stderr, /host key/i);
    });

    it('runs systemd with nothing failed, and the LAN connects the VMs (no default route)', async () => {
      const r = await sh('director', 'systemctl is-system-running --wait; systemctl --failed --no-legend --plain');
      assert.equal(r.stdout.split('\n')[0], 'running', r.stdout);
      assert.equal(r.stdout.split('\n').slice(1).join('').trim(), '');
      assert.match(await on('director', 'ps -p 1 -o comm='), /systemd/);
      assert.match(await on('rs1', 'ip -o -4 addr show dev eth1'), /10\.0\.0\.16\/24/);
      await on('rs1', 'ping -c1 -W3 10.0.0.17 && ping -c1 -W3 10.0.0.15 && ping -c1 -W3 director');
      // The management NIC (user-mode, restrict=on) only carries SSH replies on-link.
      assert.equal((await on('rs1', 'ip route show default')).trim(), '');
      assert.match(await on('rs1', 'ip -o -4 addr show dev eth0'), /10\.0\.2\.15\/24/);
    });

    it('saves every VM (they run on)', async () => {
      await Promise.all(lab.hosts.map((h) => on(h.name, `echo booted-${h.name}-${process.pid} > /root/lab-marker`)));
      booted = await vmFingerprint();
      const bytes = await labTimed('save-booted', () => vmLabSave(lab.dir, 'booted'));
      assert.deepEqual(Object.keys(bytes).sort(), ['client', 'director', 'director2', 'rs1', 'rs2']);
      for (const [host, n] of Object.entries(bytes)) assert.ok(n > 10 * 1024 * 1024, `${host}: ${n} bytes saved`);
      labResults.savedBytes = bytes;
      assert.deepEqual(await vmFingerprint(), booted, 'saving changed nothing');
    });

    it('loads ip_vs on the director and ipip on a real server', async () => {
      const out = await on('director', 'modprobe ip_vs && ipvsadm -Ln && cat /proc/net/ip_vs >/dev/null && uname -r');
      assert.match(out, /IP Virtual Server version \d+\.\d+\.\d+/);
      assert.match(out, /cloud-amd64/);
      assert.match(await on('director', 'modprobe ip_vs_wrr && lsmod'), /^ip_vs_wrr\s/m);
      assert.match(await on('rs1', 'modprobe ipip && ip -o link show tunl0'), /tunl0@NONE/);
    });

    it('reaches a VM through the agent while its sshd is stopped', async () => {
      await vmDriver.stopHost(lab.dir, 'rs2');
      try {
        const down = await sshExec(sshEndpoint(lab.state, 'rs2', false), raw('true'), { timeoutMs: 30_000 });
        assert.notEqual(down.code, 0);
        const viaAgent = await vmDriver.hostExec(lab.dir, 'rs2', 'hostname; echo oops >&2; exit 3');
        assert.deepEqual(viaAgent, execResult(3, 'rs2\n', 'oops\n'));
      } finally {
        // sshd back whatever happened: the scenarios after this one reach rs2 over SSH.
        await vmDriver.startHost(lab.dir, 'rs2');
      }
      assert.equal((await on('rs2', 'hostname')).trim(), 'rs2');
      const st = await vmDriver.status(lab.dir);
      assert.deepEqual(
        st.hosts.map((h) => [h.name, h.running, h.sshd]),
        lab.hosts.map((h) => [h.name, true, true]),
      );
    });

    it('balances a client across rs1/rs2 with a hand-made LVS VS/TUN rule set (busybox httpd)', async () => {
      const web = (host: string) =>
        on(
          host,
          `mkdir -p /srv/www && hostname > /srv/www/index.html && systemd-run --unit=lab-web busybox httpd -f -p 80 -h /srv/www && for i in $(seq 50); do ss -Hltn 'sport = :80' | grep -q . && exit 0; sleep 0.1; done; exit 1`,
        );
      await Promise.all([web('rs1'), web('rs2')]);
      assert.equal((await on('client', 'curl -sS -m 10 http://10.0.0.16/')).trim(), 'rs1');
      const realServer = `modprobe ipip && ip link set tunl0 up && ip addr replace ${VIP}/32 dev tunl0 &&
        sysctl -q -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0`;
      await Promise.all([on('rs1', realServer), on('rs2', realServer)]);
      await on(
        'director',
        `modprobe ip_vs && ip addr replace ${VIP}/32 dev eth1 && ipvsadm -C &&
         ipvsadm -A -t ${VIP}:80 -s rr && ipvsadm -a -t ${VIP}:80 -r 10.0.0.16:80 -i -w 1 && ipvsadm -a -t ${VIP}:80 -r 10.0.0.17:80 -i -w 1`,
      );
      const out = await on('client', `for i in $(seq 10); do curl -sS -m 10 http://${VIP}/; done`);
      const replies = out.trim().split('\n');
      assert.equal(replies.filter((r) => r === 'rs1').length, 5, out);
      assert.equal(replies.filter((r) => r === 'rs2').length, 5, out);
      // The director saw all 10 connections (its totals lag: the kernel sums them every 2 s)
      // and tunnelled them: TUN replies bypass the director, so OutPkts stays 0.
      const stats = await on(
        'director',
        `for i in $(seq 30); do ipvsadm -Ln --stats | grep -Eq '^TCP +${VIP}:80 +10 ' && break; sleep 0.5; done; ipvsadm -Ln --stats`,
      );
      assert.match(stats, new RegExp(`^TCP\\s+${VIP.replace(/\./g, '\\.')}:80\\s+10\\s+\\d+\\s+0\\s`, 'm'), stats);
    });

    it('re-addresses the running lab for NAT (client behind the director)', async () => {
      lab = await labTimed('relayout', () => vmLabRelayout(lab.dir, 'nat'));
      assert.match(await on('client', 'ip -o -4 addr show dev eth1; ip route'), /10\.0\.1\.10\/24[\s\S]*10\.0\.0\.0\/24 via 10\.0\.1\.1/);
      assert.match(await on('director', 'ip -o -4 addr show dev eth1'), /10\.0\.0\.15\/24[\s\S]*10\.0\.1\.1\/24/);
      assert.match(await on('rs1', 'getent hosts client'), /^10\.0\.1\.10\s+client/);
      const inv = load(await readFile(lab.inventory, 'utf8')) as any;
      assert.equal(inv.all.vars.lvs.services[0].forwarding, 'nat');
      assert.equal(inv.all.children.clients.hosts.client.lan_address, '10.0.1.10');
    });

    it('restores every VM to the saved moment: the hand-made LVS, modules, web servers and NAT addresses are gone', async () => {
      const pids = lab.state.hosts.map((h) => (h.driver as unknown as VmHostDriverState).pid);
      lab = await labTimed('restore-booted', () => vmLabRestore(lab.dir, 'booted'));
      // The inventory is the one saved with the VMs: TUN, the client on the LAN.
      const inv = load(await readFile(lab.inventory, 'utf8')) as any;
      assert.equal(inv.all.vars.lvs.services[0].forwarding, 'tun');
      assert.equal(inv.all.children.clients.hosts.client.lan_address, '10.0.0.10');
      const now = lab.state.hosts.map((h) => (h.driver as unknown as VmHostDriverState).pid);
      for (let i = 0; i < pids.length; i++) assert.notEqual(now[i], pids[i], 'a new qemu runs each VM');
      assert.deepEqual(await vmFingerprint(), booted);
      const clock = Number(await on('director', 'date +%s'));
      assert.ok(Math.abs(clock - Date.now() / 1000) < 5, `the guest clock was set (${clock})`);
    });
  });

  it('installs the web app on the real servers and saves the VMs', async () => {
    const web = await labTimed('up-web', () =>
      provision(['up', lab.inventory, 'sample', '--limit', 'real_servers', '-e', 'demo_port=80', '--state-dir', stateDir], { timeoutMs: 600_000 }),
    );
    assert.equal(web.code, 0, web.stdout + web.stderr);
    const save = await labTimed('save-web', () => provision(['lab', 'save', 'web', '--name', LAB]));
    assert.equal(save.code, 0, save.stdout + save.stderr);
    assert.match(save.stdout, /saved as web \(client \d+ MiB, director \d+ MiB, director2 \d+ MiB, rs1 \d+ MiB, rs2 \d+ MiB\)/);
  });

  /** The last method's inventory: the keepalived scenario switches that running cluster's monitor. */
  let last: { method: Method; inventory: string } | undefined;

  METHODS.forEach((method, index) => {
    describe(`VS/${method.toUpperCase()}`, () => {
      const timings: Record<string, number> = {};
      const results: Record<string, unknown> = { method, timings };
      const timed = timer(timings);
      const cli = (args: string[]) => provision([...args, '--state-dir', stateDir], { timeoutMs: 600_000 });
      /** The lab's inventory with this method's forwarding (TUN and DR share the LAN layout). */
      const inventory = () => {
        if (method === lab.forwarding) return lab.inventory;
        const file = join(dirname(lab.inventory), `inventory-${method}.yaml`);
        const text = readFileSync(lab.inventory, 'utf8');
        assert.match(text, new RegExp(`forwarding: ${lab.forwarding}\\n`));
        writeFileSync(file, text.replace(new RegExp(`forwarding: ${lab.forwarding}\\n`, 'g'), `forwarding: ${method}\n`));
        return file;
      };
      let inv = '';
      const verify = (args: string[] = []) => provision(['verify', inv, ...args], { timeoutMs: 600_000 });
      /** What the site playbook changes that a rollback must restore: IPVS table, VIPs, mon, rs1's tunnel/ARP state. */
      const fingerprint = async () => ({
        director: await on(
          'director',
          "ipvsadm -S -n; ip -o -4 addr show dev eth1 | awk '{print $4, $NF}'; systemctl is-enabled mon; systemctl is-active mon; sha256sum /etc/mon/mon.cf; ls /usr/lib/mon/alert.d; true",
        ),
        rs1: await on(
          'rs1',
          "ip -o -4 addr show | awk '{print $2, $4}'; cat /proc/sys/net/ipv4/conf/all/arp_ignore /proc/sys/net/ipv4/conf/all/arp_announce /proc/sys/net/ipv4/conf/all/rp_filter; systemctl is-enabled lvs-realserver; ls /etc/sysctl.d; true",
        ),
      });
      let beforeSite: Awaited<ReturnType<typeof fingerprint>>;
      let siteRun = '';
      after(() => writeResults(method, results));

      if (method === 'nat') {
        it(`VS/NAT: the VMs saved with the web app are restored and re-addressed (client on 10.0.1.0/24 behind the director)`, async () => {
          if (index > 0) {
            const restore = await timed('restore-web', () => provision(['lab', 'restore', 'web', '--name', LAB]));
            assert.equal(restore.code, 0, restore.stdout + restore.stderr);
            assert.match(restore.stdout, /restored web; inventory: .*inventory\.yaml \(forwarding tun\)/);
            lab = await vmLabOpen(lab.dir);
          }
          lab = await timed('relayout', () => vmLabRelayout(lab.dir, 'nat'));
          assert.match(await on('client', 'ip -o -4 addr show dev eth1; ip route'), /10\.0\.1\.10\/24[\s\S]*10\.0\.0\.0\/24 via 10\.0\.1\.1/);
          assert.match(await on('director', 'ip -o -4 addr show dev eth1'), /10\.0\.1\.1\/24/);
          // Restored to before the TUN/DR runs: no VIP, no IPVS rules, mon stopped, the web app up.
          assert.equal((await on('director', "ip -o -4 addr show dev eth1 | grep -c ' 10.0.0.18/' || true")).trim(), '0');
          assert.equal((await sh('director', 'systemctl is-active mon')).stdout.trim(), 'inactive');
          assert.match(await on('director', 'curl -sS -m 10 http://10.0.0.16/'), /Hello from rs1/);
        });
      }

      it(`VS/${method.toUpperCase()}: up converges the cluster and verify proves real traffic through the VIP`, async () => {
        inv = inventory();
        last = { method, inventory: inv };
        beforeSite = await fingerprint();
        const up = await timed('up', () => cli(['up', inv, '--json']));
        assert.equal(up.code, 0, up.stdout + up.stderr);
        const report = JSON.parse(up.stdout) as RunReport;
        siteRun = report.id;
        // Where a first converge spends its time: the slowest tasks per host.
        results.slowestTasks = Object.fromEntries(
          report.hosts.map((h) => [
            h.host,
            [...h.tasks]
              .sort((a, b) => b.durationMs - a.durationMs)
              .slice(0, 5)
              .map((t) => `${t.task} ${t.status} ${t.durationMs} ms`),
          ]),
        );
        const v = await timed('verify', () => verify(['--json']));
        assert.equal(v.code, 0, v.stdout);
        const rep = JSON.parse(v.stdout) as { counts: Record<string, Record<string, number>> };
        assert.deepEqual(rep.counts.web, { rs1: 10, rs2: 10 });
        results.verify = rep.counts;
      });
      it(`VS/${method.toUpperCase()}: a dead real server is removed by mon (two intervals + TCG slack), and re-added with its weight and method when back`, async () => {
        const flag = method === 'tun' ? '-i' : method === 'dr' ? '-g' : '-m';
        // Requests from the client all through the failover, to count the ones that failed.
        await on(
          'client',
          `setsid sh -c 'while :; do curl -s -m 1 -o /dev/null -w "%{http_code}\\n" http://${VIP}/ || echo FAIL; sleep 0.2; done' > /tmp/failover.log 2>&1 < /dev/null & echo $! > /tmp/failover.pid`,
        );
        await on('rs1', 'systemctl stop demo-web 2>/dev/null; /etc/init.d/demo-web stop; true');
        const removedMs = await waitFor('rs1 removed', async () => !(await table()).includes('-r 10.0.0.16:80'), MONITOR_LIMIT_MS);
        timings.removeAfterStop = removedMs;
        const afterStop = await on('client', 'for i in 1 2 3 4 5 6; do curl -s -m 2 http://10.0.0.18/ || echo FAIL; echo; done');
        assert.equal((afterStop.match(/Hello from rs2/g) ?? []).length, 6, afterStop);
        await on('rs1', '/etc/init.d/demo-web start');
        const backMs = await waitFor('rs1 back', async () => (await table()).includes(`-r 10.0.0.16:80 ${flag} -w 1`), MONITOR_LIMIT_MS);
        timings.readdAfterStart = backMs;
        // Killed by pid: a pkill -f pattern would match this very command line (lab-notes' trap).
        const log = await on('client', 'kill $(cat /tmp/failover.pid); sleep 1.5; cat /tmp/failover.log');
        const lines = log.split('\n').filter(Boolean);
        results.failover = { requests: lines.length, failed: lines.filter((l) => l !== '200').length, removedMs, backMs };
        assert.ok(lines.length > 10, 'the client kept sending requests');
      });

      it(`VS/${method.toUpperCase()}: a second up changes nothing; check reports no drift`, async () => {
        const up = await timed('up-noop', () => cli(['up', inv, '--json']));
        assert.equal(up.code, 0, up.stderr);
        for (const h of (JSON.parse(up.stdout) as RunReport).hosts)
          assert.equal(h.recap.changed, 0, `${h.host}: ${JSON.stringify(h.tasks.filter((t) => t.status === 'changed'))}`);
        const check = await timed('check', () => cli(['check', inv]));
        assert.equal(check.code, 0, check.stdout);
      });

      // The live-table task is the same for every method: its drift and repair are proven once, on TUN.
      if (method === 'tun')
        it(`VS/${method.toUpperCase()}: a hand \`ipvsadm -d\` is drift: check shows it, up repairs it, verify passes`, async () => {
          // Stop mon first: it would re-add the server by itself (that is its job).
          await on('director', 'systemctl stop mon && ipvsadm -d -t 10.0.0.18:80 -r 10.0.0.17:80');
          const check = await cli(['check', inv, '--limit', 'director']);
          assert.equal(check.code, 3, check.stdout + check.stderr);
          assert.match(check.stdout, /\+-a -t 10\.0\.0\.18:80 -r 10\.0\.0\.17:80 -[gim] -w 1/);
          const up = await timed('up-repair', () => cli(['up', inv, '--limit', 'director']));
          assert.equal(up.code, 0, up.stdout);
          assert.match(await table(), /-r 10\.0\.0\.17:80/);
          await on('director', 'systemctl start mon');
          const v = await timed('verify-after-repair', () => verify());
          assert.equal(v.code, 0, v.stdout);
        });

      it(`VS/${method.toUpperCase()}: verify names the cause when a real server is broken, and up repairs it`, async () => {
        // One fault per method, each a classic LVS failure: strict rp_filter (TUN), a real server
        // answering ARP for the VIP (DR), a real server not routing back through the director (NAT).
        const sabotage = {
          tun: { cmd: 'sysctl -w net.ipv4.conf.all.rp_filter=1', cause: /rp_filter drop on rs1/ },
          dr: { cmd: 'sysctl -w net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0', cause: /ARP problem on rs1/ },
          nat: { cmd: 'ip route replace default via 10.0.0.17', cause: /NAT gateway wrong on rs1/ },
        }[method];
        await on('rs1', sabotage.cmd);
        // 8 requests: enough to see the imbalance, fewer timeouts to wait for.
        const v = await timed('verify-broken', () => verify(['--json', '-n', '8']));
        assert.equal(v.code, 1, v.stdout);
        const rep = JSON.parse(v.stdout) as { checks: { ok: boolean; cause?: string }[]; counts: unknown };
        const causes = rep.checks.filter((c) => !c.ok).map((c) => c.cause ?? '');
        assert.ok(
          causes.some((c) => sabotage.cause.test(c)),
          causes.join(' | '),
        );
        results.diagnosis = { fault: sabotage.cmd, causes, counts: rep.counts };
        const up = await timed('up-repair-rs1', () => cli(['up', inv, '--limit', 'rs1']));
        assert.equal(up.code, 0, up.stdout);
        const ok = await verify();
        assert.equal(ok.code, 0, ok.stdout);
      });

      if (HA && method === 'tun') {
        it('VS/TUN: a backup director (lvs.ha, mon): the master killed during a download, the backup takes over, the download survives (sync), the master returns, up changes nothing, rollback gives back the single director', async () => {
          lab = await backupDirector({ lab, method, single: inv, stateDir, resultsFile: join(ROOT, `bench/results/e2e-ha-${method}.json`) });
        });
      }

      if (UDP && method === 'dr') {
        it('VS/DR: a udp (DNS) service on the same VIP: up adds it, verify probes it with DNS queries and reports its spread', async () => {
          for (const [rs, rip] of [
            ['rs1', '10.0.0.16'],
            ['rs2', '10.0.0.17'],
          ] as const)
            assert.match(await on(rs, startStandIn(rip, VIP)), /listening/);
          const udpInv = withUdpService(inv);
          const up = await timed('up-udp', () => cli(['up', udpInv]));
          assert.equal(up.code, 0, up.stdout + up.stderr);
          assert.match(await table(), /-A -u 10\.0\.0\.18:53 -s rr/);
          const v = await timed('verify-udp', () => provision(['verify', udpInv, '--json', '-n', '10'], { timeoutMs: 600_000 }));
          const udp = assertUdpVerified(JSON.parse(v.stdout), 10);
          results.udp = udp.map((c) => `${c.check}: ${c.detail}`);
          await on('rs1', stopStandIn);
          await on('rs2', stopStandIn);
        });
      }
      if (METHODS[index + 1] === 'dr' && method === 'tun') {
        it(`VS/${method.toUpperCase()}: rollback of the site run restores the IPVS table, VIPs, mon and the real servers exactly; verify then fails as before`, async () => {
          const rb = await timed('rollback', () => cli(['rollback', inv, siteRun]));
          assert.equal(rb.code, 0, rb.stdout + rb.stderr);
          // The handlers the undone changes had notified ran (daemon-reload; restart mon is a try-restart).
          assert.match(rb.stderr, /director \| handler \| restart mon: /);
          assert.deepEqual(await fingerprint(), beforeSite);
          const v = await verify(['--json', '-n', '4']);
          assert.equal(v.code, 1, 'before the site run the VIP did not work, and again it does not');
          const again = await cli(['rollback', inv, siteRun]);
          assert.match(again.stdout, /already rolled back/);
          results.rollback = { fingerprintIdentical: true, handlers: rb.stderr.split('\n').filter((l) => l.includes('| handler |')) };
        });
      }
    });
  });

  it('day two on the running NAT cluster with mon: health is not drift, status, drain/undrain during a download, concurrent runs refused', async () => {
    assert.ok(last?.method === 'nat', 'the NAT cluster with mon is running');
    const { dayTwo } = await import('./day-two.js');
    await dayTwo({ lab, inventory: last.inventory, stateDir, interval: INTERVAL, resultsFile: join(ROOT, 'bench/results/e2e-day-two.json') });
  });

  it('switching the running cluster from mon to keepalived retires mon; keepalived removes a dead real server and re-adds it; a second up changes nothing', async () => {
    assert.ok(last, 'a method ran before');
    const { method } = last;
    const timings: Record<string, number> = {};
    const results: Record<string, unknown> = { method, monitor: 'keepalived', switchedFrom: 'mon', timings };
    const timed = timer(timings);
    try {
      const inv = join(dirname(last.inventory), `inventory-${method}-keepalived.yaml`);
      const text = readFileSync(last.inventory, 'utf8');
      assert.match(text, /monitor: mon\n/);
      writeFileSync(inv, text.replace(/monitor: mon\n/g, 'monitor: keepalived\n'));
      const cli = (args: string[]) => provision([...args, '--state-dir', stateDir], { timeoutMs: 600_000 });
      const up = await timed('up', () => cli(['up', inv]));
      assert.equal(up.code, 0, up.stdout + up.stderr);
      // mon's config is ours ("written by provision"): no service needs it, so it is stopped and disabled.
      assert.equal((await sh('director', 'systemctl is-active mon; systemctl is-enabled mon')).stdout, 'inactive\ndisabled\n');
      assert.equal((await on('director', 'systemctl is-active keepalived')).trim(), 'active');
      const v = await timed('verify', () => provision(['verify', inv, '--json'], { timeoutMs: 600_000 }));
      assert.equal(v.code, 0, v.stdout);
      results.verify = (JSON.parse(v.stdout) as { counts: unknown }).counts;
      const flag = method === 'tun' ? '-i' : method === 'dr' ? '-g' : '-m';
      await on('rs1', '/etc/init.d/demo-web stop');
      timings.removeAfterStop = await waitFor('keepalived removes rs1', async () => !(await table()).includes('-r 10.0.0.16:80'), MONITOR_LIMIT_MS);
      // keepalived's own state read: rs1 out of service (check 0, up leaves it, status down since ...).
      const ka = await import('./keepalived-health.js');
      const kaOptions = { lab, inventory: inv, stateDir, flag, results, recordDir: join(ROOT, 'bench/results') };
      if (KSTATE) await timed('health-rs1-down', () => ka.keepalivedRs1Down(kaOptions));
      await on('rs1', '/etc/init.d/demo-web start');
      timings.readdAfterStart = await waitFor('keepalived re-adds rs1', async () => (await table()).includes(`-r 10.0.0.16:80 ${flag} -w 1`), MONITOR_LIMIT_MS);
      if (KSTATE) await timed('hand-delete-repaired', () => ka.keepalivedHandDelete(kaOptions));
      const again = await timed('up-noop', () => cli(['up', inv, '--json']));
      assert.equal(again.code, 0, again.stderr);
      for (const h of (JSON.parse(again.stdout) as RunReport).hosts)
        assert.equal(h.recap.changed, 0, `${h.host}: ${JSON.stringify(h.tasks.filter((t) => t.status === 'changed'))}`);
    } finally {
      writeResults('keepalived', results);
    }
  });

  if (HA && METHODS.at(-1) === 'nat')
    it('VS/NAT: a backup director (lvs.ha, keepalived): the master killed during a download, the backup takes over, the download survives (sync), the master returns, up changes nothing, rollback gives back the single director', async () => {
      assert.equal(last?.method, 'nat', 'the NAT cluster with keepalived is running');
      const single = join(dirname(last.inventory), 'inventory-nat-keepalived.yaml');
      lab = await backupDirector({ lab, method: 'nat', single, stateDir, resultsFile: join(ROOT, 'bench/results/e2e-ha-nat.json') });
    });

  it('lab down stops every qemu and removes the lab dir (snapshots included)', async () => {
    const pids = lab.state.hosts.map((h) => (h.driver as unknown as VmHostDriverState).pid!);
    assert.equal(pids.length, 5);
    const down = await provision(['lab', 'down', '--name', LAB]);
    assert.equal(down.code, 0, down.stdout + down.stderr);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/);
    assert.deepEqual(await processesMentioning(lab.dir), []);
    await assert.rejects(stat(lab.dir), /ENOENT/);
  });
});
