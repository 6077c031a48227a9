// Boots the default VM lab (client, director, rs1, rs2 under qemu) and proves it
// can host a real LVS: IPVS and ipip in the kernel, a LAN between the VMs, systemd,
// a web server, and a hand-made VS/TUN rule set that balances a client's requests.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { load } from 'js-yaml';
import type { ExecResult } from '../../src/core/types.js';
import { sshEndpoint, vmDriver, type VmHostDriverState } from '../../src/lab/vm/driver.js';
import { vmLabDown, vmLabUp, type VmLab } from '../../src/lab/vm/lab.js';
import { sshExec } from '../../src/lab/vm/ssh.js';

const VIP = '10.0.0.18';

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

describe('VM lab: real kernel with IPVS', { timeout: 600_000 }, () => {
  let base: string;
  let lab: VmLab;
  const name = `t${process.pid}`;

  async function sh(host: string, script: string): Promise<ExecResult> {
    return sshExec(sshEndpoint(lab.state, host), script, { timeoutMs: 60_000 });
  }
  async function ok(host: string, script: string): Promise<string> {
    const r = await sh(host, script);
    assert.equal(r.code, 0, `${host}: ${script}\nexit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'vmlab-'));
    lab = await vmLabUp({ name, dir: join(base, 'lab'), log: (l) => console.error(l) });
    console.error(`vm lab timings: ${JSON.stringify(lab.timings)}`);
  });

  after(async () => {
    // Safety net if a test failed before the down test ran; down is idempotent.
    if (lab) await vmLabDown(name, lab.dir).catch(() => {});
    if (base) await rm(base, { recursive: true, force: true });
  });

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
    const names = await Promise.all(lab.hosts.map((h) => ok(h.name, 'hostname')));
    assert.deepEqual(
      names.map((n) => n.trim()),
      lab.hosts.map((h) => h.name),
    );
    // A wrong key in known_hosts must make OpenSSH refuse: the check is real.
    const other = lab.state.hosts.find((h) => h.name === 'rs1')!;
    const wrongKnown = join(base, 'wrong_known_hosts');
    await writeFile(wrongKnown, `[127.0.0.1]:${lab.hosts.find((h) => h.name === 'rs2')!.sshPort} ${other.hostKey}\n`);
    const ep = { ...sshEndpoint(lab.state, 'rs2', false), knownHosts: wrongKnown };
    const r = await sshExec(ep, 'true');
    assert.equal(r.code, 255);
    assert.match(r.stderr, /host key/i);
  });

  it('loads ip_vs on the director and ipvsadm talks to it', async () => {
    const out = await ok('director', 'modprobe ip_vs && ipvsadm -Ln && cat /proc/net/ip_vs >/dev/null && uname -r');
    assert.match(out, /IP Virtual Server version \d+\.\d+\.\d+/);
    assert.match(out, /cloud-amd64/);
    assert.match(await ok('director', 'modprobe ip_vs_wrr && lsmod'), /^ip_vs_wrr\s/m);
  });

  it('creates tunl0 on a real server with modprobe ipip', async () => {
    const out = await ok('rs1', 'modprobe ipip && ip -o link show tunl0');
    assert.match(out, /tunl0@NONE/);
  });

  it('connects the VMs over the LAN (eth1)', async () => {
    assert.match(await ok('rs1', 'ip -o -4 addr show dev eth1'), /10\.0\.0\.16\/24/);
    await ok('rs1', 'ping -c1 -W3 10.0.0.17 && ping -c1 -W3 10.0.0.15 && ping -c1 -W3 director');
    // No default route: the management NIC (user-mode, restrict=on) only carries SSH replies on-link.
    assert.equal((await ok('rs1', 'ip route show default')).trim(), '');
    assert.match(await ok('rs1', 'ip -o -4 addr show dev eth0'), /10\.0\.2\.15\/24/);
  });

  it('runs systemd with nothing failed', async () => {
    const r = await sh('director', 'systemctl is-system-running --wait; systemctl --failed --no-legend --plain');
    assert.equal(r.stdout.split('\n')[0], 'running', r.stdout);
    assert.equal(r.stdout.split('\n').slice(1).join('').trim(), '');
    assert.match(await ok('director', 'ps -p 1 -o comm='), /systemd/);
  });

  it('reaches a VM through the agent while its sshd is stopped', async () => {
    await vmDriver.stopHost(lab.dir, 'rs2');
    const down = await sshExec(sshEndpoint(lab.state, 'rs2', false), 'true', { timeoutMs: 30_000 });
    assert.notEqual(down.code, 0);
    const viaAgent = await vmDriver.hostExec(lab.dir, 'rs2', 'hostname; echo oops >&2; exit 3');
    assert.deepEqual(viaAgent, { code: 3, stdout: 'rs2\n', stderr: 'oops\n' });
    await vmDriver.startHost(lab.dir, 'rs2');
    assert.equal((await ok('rs2', 'hostname')).trim(), 'rs2');
    const st = await vmDriver.status(lab.dir);
    assert.ok(st.exists);
    assert.deepEqual(
      st.hosts.map((h) => [h.name, h.running, h.sshd]),
      lab.hosts.map((h) => [h.name, true, true]),
    );
  });

  it('serves a page from busybox httpd on rs1 to the client', async () => {
    const web = (host: string) =>
      ok(host, `mkdir -p /srv/www && hostname > /srv/www/index.html && systemctl reset-failed lab-web 2>/dev/null; systemd-run --unit=lab-web busybox httpd -f -p 80 -h /srv/www && for i in $(seq 50); do ss -Hltn 'sport = :80' | grep -q . && exit 0; sleep 0.1; done; exit 1`);
    await Promise.all([web('rs1'), web('rs2')]);
    assert.equal((await ok('client', 'curl -sS -m 10 http://10.0.0.16/')).trim(), 'rs1');
  });

  it('balances a client across rs1/rs2 with a hand-made LVS VS/TUN rule set', async () => {
    const realServer = `modprobe ipip && ip link set tunl0 up && ip addr replace ${VIP}/32 dev tunl0 &&
      sysctl -q -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0 net.ipv4.conf.eth1.rp_filter=0`;
    await Promise.all([ok('rs1', realServer), ok('rs2', realServer)]);
    await ok(
      'director',
      `modprobe ip_vs && ip addr replace ${VIP}/32 dev eth1 && ipvsadm -C &&
       ipvsadm -A -t ${VIP}:80 -s rr && ipvsadm -a -t ${VIP}:80 -r 10.0.0.16:80 -i -w 1 && ipvsadm -a -t ${VIP}:80 -r 10.0.0.17:80 -i -w 1`,
    );
    const out = await ok('client', `for i in $(seq 10); do curl -sS -m 10 http://${VIP}/; done`);
    const replies = out.trim().split('\n');
    assert.equal(replies.filter((r) => r === 'rs1').length, 5, out);
    assert.equal(replies.filter((r) => r === 'rs2').length, 5, out);
    // The director saw all 10 connections (its totals lag: the kernel sums them every 2 s)
    // and tunnelled them: TUN replies bypass the director, so OutPkts stays 0.
    const stats = await ok('director', `for i in $(seq 30); do ipvsadm -Ln --stats | grep -Eq '^TCP +${VIP}:80 +10 ' && break; sleep 0.5; done; ipvsadm -Ln --stats`);
    assert.match(stats, new RegExp(`^TCP\\s+${VIP.replace(/\./g, '\\.')}:80\\s+10\\s+\\d+\\s+0\\s`, 'm'), stats);
    assert.match(await ok('director', 'ipvsadm-save -n'), /-a -t 10\.0\.0\.18:80 -r 10\.0\.0\.16:80 -i -w 1/);
  });

  it('down stops every qemu and removes the lab dir', async () => {
    const pids = lab.state.hosts.map((h) => (h.driver as unknown as VmHostDriverState).pid!);
    assert.equal(pids.length, 4);
    await vmLabDown(name, lab.dir);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/);
    assert.deepEqual(await processesMentioning(lab.dir), []);
    await assert.rejects(stat(lab.dir), /ENOENT/);
  });
});
