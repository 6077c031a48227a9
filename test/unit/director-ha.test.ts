// A backup director (lvs.ha) rendered offline for two Debian 12 directors: keepalived's VRRP owns
// the VIPs (no static alias, the boot unit retired), lvs_sync_daemon syncs connections, both carry
// the same IPVS rules, NAT real servers route through the floating gateway; keepalived -t accepts
// every file; legacy Red Hat is refused with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadInventory } from '../../src/inventory/load.js';
import { selectHosts } from '../../src/inventory/select.js';
import { loadFactsFixture } from '../../src/core/facts-fixture.js';
import { renderOffline } from '../../src/core/offline.js';
import site from '../../playbooks/site.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const inventoryText = (forwarding: string, ha: string, monitor = 'keepalived') => `all:
  vars:
    lvs:
      services:
        - name: web
          vip: 10.0.0.18
          port: 80
          scheduler: rr
          forwarding: ${forwarding}
          real_servers:
            - host: rs1
            - host: rs2
          health: {monitor: ${monitor}, kind: http, url: /, interval: 5, timeout: 3}
${ha}  children:
    directors:
      hosts:
        director: {dip: 10.0.0.15, lan_interface: eth1}
        director2: {dip: 10.0.0.19, lan_interface: eth1}
    real_servers:
      hosts:
        rs1: {rip: 10.0.0.16, lan_interface: eth1}
        rs2: {rip: 10.0.0.17, lan_interface: eth1}
`;

async function render(text: string, factsFile = 'lab-ha.yaml') {
  const file = join(mkdtempSync(join(tmpdir(), 'provision-ha-')), 'inventory.yaml');
  writeFileSync(file, text);
  const inventory = loadInventory(file);
  const r = await renderOffline({
    inventory,
    playbook: site,
    playbookName: 'site',
    hosts: selectHosts(inventory, 'all', 'all'),
    facts: loadFactsFixture(join(ROOT, 'test/fixtures/facts', factsFile)),
    projectDir: ROOT,
  });
  return r.hosts;
}

const fileOf = (h: { files: { path: string; content: Buffer }[] }, path: string) => {
  const f = h.files.find((x) => x.path === path);
  assert.ok(f, `${path} not written; files: ${h.files.map((x) => x.path).join(', ')}`);
  return f.content.toString('utf8');
};

const keepalivedCheck = (text: string) => {
  const f = join(mkdtempSync(join(tmpdir(), 'provision-ka-')), 'keepalived.conf');
  writeFileSync(f, text);
  // keepalived -t also checks that the VRRP interface exists: eth1 is made in a throwaway network
  // namespace (root, as CI; a veth pair: this kernel has no dummy module).
  return spawnSync('unshare', ['-n', 'sh', '-c', 'ip link add eth1 type veth peer name eth1p && exec keepalived -t -f "$1"', 'sh', f], { encoding: 'utf8' });
};

const NAT_HA = `      ha:
        virtual_router_id: 51
        nat_gateway: 10.0.0.14
        floating: [10.0.1.2/24]
`;

test("lvs.ha, NAT: VRRP owns the VIP and the floating gateways, sync daemon on, keepalived -t accepts both directors' files", async () => {
  const hosts = await render(inventoryText('nat', NAT_HA));
  for (const [name, prio, state] of [
    ['director', 150, 'MASTER'],
    ['director2', 140, 'BACKUP'],
  ] as const) {
    const h = hosts[name]!;
    assert.equal(h.report.recap.failed, 0, `${name}: ${h.report.error ?? ''} ${JSON.stringify(h.report.tasks.filter((t) => t.status === 'failed'))}`);
    const conf = fileOf(h, '/etc/keepalived/keepalived.conf');
    assert.match(conf, /^ {4}lvs_sync_daemon eth1 LVS_51 id 51$/m);
    assert.match(
      conf,
      new RegExp(
        `^vrrp_instance LVS_51 \\{\\n {4}state ${state}\\n {4}interface eth1\\n {4}virtual_router_id 51\\n {4}priority ${prio}\\n {4}advert_int 1\\n {4}virtual_ipaddress \\{\\n {8}10\\.0\\.0\\.18/32 dev eth1\\n {8}10\\.0\\.0\\.14/32 dev eth1\\n {8}10\\.0\\.1\\.2/24 dev eth1\\n {4}\\}\\n\\}$`,
        'm',
      ),
    );
    assert.match(conf, /^virtual_server 10\.0\.0\.18 80 \{$/m, 'the same virtual_server on both');
    assert.doesNotMatch(conf, /nopreempt|unicast/);
    const ok = keepalivedCheck(conf);
    assert.equal(ok.status, 0, `${name}: ${ok.stderr}`);
    const tasks = h.report.tasks.map((t) => t.task);
    // No static VIP, no boot unit: VRRP owns the VIP; a boot unit from one-director days is retired.
    assert.ok(!tasks.some((t) => /^VIP /.test(t)), tasks.join('\n'));
    assert.ok(!h.files.some((f) => f.path.includes('lvs-director')), 'no lvs-director boot unit written');
    assert.ok(
      h.report.tasks.some((t) => t.task === 'lvs-director' && t.module === 'service'),
      tasks.join('\n'),
    );
    assert.ok(
      tasks.some((t) => /net\.ipv4\.ip_forward = 1/.test(t)),
      'NAT: both directors forward',
    );
  }
  // The same IPVS rules at boot on both directors (keepalived owns this service: none in the file).
  assert.equal(fileOf(hosts.director!, '/etc/ipvsadm.rules'), fileOf(hosts.director2!, '/etc/ipvsadm.rules'));
  // NAT real servers route through the floating gateway, not one director's dip.
  const rsCmds = hosts.rs1!.report.tasks.map((t) => t.task).join('\n');
  assert.match(rsCmds, /default route via the director 10\.0\.0\.14/);
  // The same check fails on a broken file, so it can fail at all.
  const bad = keepalivedCheck(fileOf(hosts.director!, '/etc/keepalived/keepalived.conf').replace('virtual_router_id 51', 'virtual_router_id 300'));
  assert.notEqual(bad.status, 0);
});

test('lvs.ha, TUN with mon: keepalived runs for VRRP only (no virtual_server), nopreempt + unicast + own sync id, mon and the IPVS rules on both', async () => {
  const hosts = await render(
    inventoryText(
      'tun',
      `      ha:
        virtual_router_id: 7
        priorities: {director2: 200}
        preempt: false
        unicast: true
        advert_interval: 2
        sync: {id: 9}
`,
      'mon',
    ),
  );
  const d1 = fileOf(hosts.director!, '/etc/keepalived/keepalived.conf');
  const d2 = fileOf(hosts.director2!, '/etc/keepalived/keepalived.conf');
  assert.doesNotMatch(d1, /virtual_server/);
  assert.match(
    d1,
    /state BACKUP\n {4}interface eth1\n {4}virtual_router_id 7\n {4}priority 150\n {4}advert_int 2\n {4}nopreempt\n {4}unicast_src_ip 10\.0\.0\.15\n {4}unicast_peer \{\n {8}10\.0\.0\.19\n {4}\}/,
  );
  assert.match(d2, /state BACKUP\n[\s\S]*priority 200\n[\s\S]*unicast_src_ip 10\.0\.0\.19\n {4}unicast_peer \{\n {8}10\.0\.0\.15\n/);
  assert.match(d1, /lvs_sync_daemon eth1 LVS_7 id 9/);
  for (const c of [d1, d2]) assert.equal(keepalivedCheck(c).status, 0, keepalivedCheck(c).stderr);
  for (const h of [hosts.director!, hosts.director2!]) {
    assert.match(fileOf(h, '/etc/mon/mon.cf'), /-V 10\.0\.0\.18:80 /, 'mon on both directors');
    assert.match(fileOf(h, '/etc/ipvsadm.rules'), /^-A -t 10\.0\.0\.18:80 -s rr$/m);
  }
  assert.equal(fileOf(hosts.director!, '/etc/ipvsadm.rules'), fileOf(hosts.director2!, '/etc/ipvsadm.rules'));
});

test('lvs.ha, sync off: no lvs_sync_daemon', async () => {
  const hosts = await render(inventoryText('dr', '      ha:\n        virtual_router_id: 3\n        sync: {enabled: false}\n'));
  const conf = fileOf(hosts.director!, '/etc/keepalived/keepalived.conf');
  assert.doesNotMatch(conf, /lvs_sync_daemon/);
  assert.equal(keepalivedCheck(conf).status, 0);
});

test("lvs.ha on legacy Red Hat (the seed's CentOS 4) is refused with a clear error, nothing rendered", async () => {
  const facts = loadFactsFixture(join(ROOT, 'test/fixtures/facts/seed-legacy.yaml'));
  const dir = mkdtempSync(join(tmpdir(), 'provision-ha-legacy-'));
  writeFileSync(
    join(dir, 'facts.yaml'),
    `director: ${JSON.stringify(facts.director)}\ndirector2: ${JSON.stringify({ ...facts.director, hostname: 'director2' })}\nrs1: ${JSON.stringify(facts.rs1)}\nrs2: ${JSON.stringify(facts.rs2)}\n`,
  );
  const file = join(dir, 'inventory.yaml');
  writeFileSync(file, inventoryText('tun', '      ha:\n        virtual_router_id: 5\n', 'mon'));
  const inventory = loadInventory(file);
  const r = await renderOffline({
    inventory,
    playbook: site,
    playbookName: 'site',
    hosts: selectHosts(inventory, 'all', 'directors'),
    facts: loadFactsFixture(join(dir, 'facts.yaml')),
    projectDir: ROOT,
  });
  for (const name of ['director', 'director2']) {
    assert.match(
      r.hosts[name]!.report.error ?? '',
      /lvs\.ha is refused on legacy Red Hat \((?:centos|redhat) 4\.5, SysV\): its keepalived cannot read the VRRP and sync configuration/,
    );
    assert.deepEqual(r.hosts[name]!.files, []);
  }
});
