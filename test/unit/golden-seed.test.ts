// Golden test: the seed inventory rendered offline with the seed's legacy hosts' facts
// (CentOS 4.5 director; RHEL AS 3, kernel 2.4 real servers) gives the seed's setup in substance,
// with its -g/tun inconsistency resolved to tun everywhere. Nothing connects anywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { provision } from '../helpers/cli.js';
import { loadInventory } from '../../src/inventory/load.js';
import { selectHosts } from '../../src/inventory/select.js';
import { loadFactsFixture } from '../../src/core/facts-fixture.js';
import { renderOffline, type HostRender } from '../../src/core/offline.js';
import site from '../../playbooks/site.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
// The seed inventory itself pins its artifacts (stand-ins under inventory/artifacts/); `edit`
// changes host vars of the rendered hosts (e.g. drops noarp_source) to test the refusals.
async function render(edit: (name: string, vars: Record<string, unknown>) => Record<string, unknown> = (_n, v) => v) {
  const inventory = loadInventory(join(ROOT, 'inventory/seed.yaml'));
  return renderOffline({
    inventory,
    playbook: site,
    playbookName: 'site',
    hosts: selectHosts(inventory, 'all').map((h) => ({ ...h, vars: edit(h.name, { ...h.vars }) })),
    facts: loadFactsFixture(join(ROOT, 'test/fixtures/facts/seed-legacy.yaml')),
    projectDir: ROOT,
  });
}
const without = (key: string) => (_n: string, v: Record<string, unknown>) => {
  delete v[key];
  return v;
};

const fileOf = (h: HostRender, path: string) => {
  const f = h.files.find((x) => x.path === path);
  assert.ok(f, `no ${path} among ${h.files.map((x) => x.path).join(', ')}`);
  return { text: f.content.toString('utf8'), mode: f.mode };
};
const ruleLines = (t: string) => t.split('\n').filter((l) => /^-[Aa] /.test(l));

test('director (CentOS 4.5): the seed rules with -i, ifcfg-eth0:1, chkconfig, mon.cf, auth.cf, init script', async () => {
  const { hosts } = await render();
  const d = hosts.director!;
  assert.equal(d.report.error, undefined);
  assert.equal(d.report.recap.failed, 0, JSON.stringify(d.report.tasks.filter((t) => t.status === 'failed')));

  // The seed's /etc/sysconfig/ipvsadm, in the save format ipvsadm-restore reads, with tun (-i) instead of -g.
  assert.deepEqual(ruleLines(fileOf(d, '/etc/sysconfig/ipvsadm').text), [
    '-A -t 192.168.0.218:80 -s rr',
    '-a -t 192.168.0.218:80 -r 192.168.0.216:80 -i -w 1',
    '-a -t 192.168.0.218:80 -r 192.168.0.217:80 -i -w 1',
  ]);
  // The seed's ifcfg-eth0:1 (a /32 netmask instead of the seed's /16 on an alias of the same subnet).
  const ifcfg = fileOf(d, '/etc/sysconfig/network-scripts/ifcfg-eth0:1').text;
  for (const l of ['DEVICE=eth0:1', 'BOOTPROTO=static', 'IPADDR=192.168.0.218', 'ONBOOT=yes', 'TYPE=Ethernet']) assert.match(ifcfg, new RegExp(`^${l}$`, 'm'));
  // `chkconfig ipvsadm on` and `chkconfig mon on`, as the seed.
  const cmds = d.commands.join('\n');
  assert.match(cmds, /chkconfig ipvsadm on/);
  assert.match(cmds, /chkconfig mon on/);
  assert.match(cmds, /ip addr add 192\.168\.0\.218\/32 dev eth0 label eth0:1/);
  assert.match(cmds, /ipvsadm -A -t 192\.168\.0\.218:80 -s rr/);
  assert.doesNotMatch(cmds, /ipvsadm -C/);

  // mon.cf: the seed's two hostgroups and watches, every 10 s, alert/upalert with -F tun -W 1.
  const mon = fileOf(d, '/etc/mon/mon.cf').text;
  assert.match(mon, /^hostgroup web_rs1 192\.168\.0\.216$/m);
  assert.match(mon, /^hostgroup web_rs2 192\.168\.0\.217$/m);
  for (const [g, ip] of [
    ['web_rs1', '216'],
    ['web_rs2', '217'],
  ]) {
    const block = mon.slice(mon.indexOf(`watch ${g}`));
    assert.match(block, /service http\n\s+description[^\n]*\n\s+interval 10s\n\s+monitor http\.monitor -p 80 -t 5 -u \/\n/);
    assert.match(block, new RegExp(`^\\s+alert lvs\\.alert -P tcp -V 192\\.168\\.0\\.218:80 -R 192\\.168\\.0\\.${ip}:80 -F tun -W 1$`, 'm'));
    assert.match(block, new RegExp(`^\\s+upalert lvs\\.alert -P tcp -V 192\\.168\\.0\\.218:80 -R 192\\.168\\.0\\.${ip}:80 -F tun -W 1$`, 'm'));
    assert.match(block, /period wd \{Sun-Sat\}/);
  }
  assert.match(mon, /^alertdir = \/usr\/lib\/mon\/alert\.d$/m);

  // auth.cf: exactly the seed's list, plus read-only `list` for anyone (provision reads mon's opstatus).
  assert.deepEqual(
    fileOf(d, '/etc/mon/auth.cf')
      .text.split('\n')
      .filter((l) => l && !l.startsWith('#')),
    ['list: all', ...['disable', 'dump', 'enable', 'get', 'loadstate', 'reset', 'savestate', 'set', 'start', 'stop', 'term'].map((c) => `${c}: root`)],
  );

  // The seed's /etc/init.d/mon: chkconfig header, start/stop/status/restart, mon -f -c /etc/mon/mon.cf.
  const init = fileOf(d, '/etc/init.d/mon');
  assert.equal(init.mode, '0755');
  assert.match(init.text, /^# chkconfig: 2345 99 10$/m);
  assert.match(init.text, /"\$MON" -f -c \/etc\/mon\/mon\.cf/);
  for (const a of ['start', 'stop', 'status', 'restart']) assert.match(init.text, new RegExp(`^\\s+${a}[|)]`, 'm'));

  const alert = fileOf(d, '/usr/lib/mon/alert.d/lvs.alert');
  assert.equal(alert.mode, '0755');
  assert.match(alert.text, /^#!\/usr\/bin\/perl/);
  assert.doesNotMatch(alert.text, /system\("/, 'no shell-string system() as in the seed');
});

test('real servers (RHEL AS 3, 2.4 kernel): noarp from source, VIP on tunl0, ip_forward 0, boot script with chkconfig', async () => {
  const { hosts } = await render();
  for (const [rs, rip] of [
    ['rs1', '192.168.0.216'],
    ['rs2', '192.168.0.217'],
  ] as const) {
    const h = hosts[rs]!;
    assert.equal(h.report.recap.failed, 0, JSON.stringify(h.report.tasks.filter((t) => t.status === 'failed')));
    const tasks = h.report.tasks.map((t) => t.task);
    assert.ok(tasks.includes('noarp'), tasks.join(', '));
    assert.ok(!tasks.some((t) => /arp_ignore|arp_announce/.test(t)), 'a 2.4 kernel has no arp_ignore: noarp instead');
    const boot = fileOf(h, '/usr/local/sbin/lvs-realserver');
    assert.equal(boot.mode, '0755');
    assert.match(boot.text, /modprobe ipip/);
    assert.match(boot.text, /ip link set tunl0 up/);
    assert.match(boot.text, /ip addr add 192\.168\.0\.218\/32 dev tunl0/);
    assert.match(boot.text, new RegExp(`noarpctl add 192\\.168\\.0\\.218 ${rip.replace(/\./g, '\\.')}`));
    const init = fileOf(h, '/etc/init.d/lvs-realserver');
    assert.match(init.text, /^# chkconfig: 2345 \d+ \d+$/m);
    assert.match(fileOf(h, '/etc/sysctl.conf').text, /^net\.ipv4\.ip_forward = 0$/m);
    const cmds = h.commands.join('\n');
    assert.match(cmds, /chkconfig lvs-realserver on/);
    assert.match(cmds, /upload .*inventory\/artifacts\/noarp-1\.2\.4\.STANDIN\.tar\.gz/);
    assert.match(cmds, /noarpctl.* add 192\.168\.0\.218 /);
    assert.match(cmds, /ip addr add 192\.168\.0\.218\/32 dev tunl0/);
  }
});

test('without a noarp artifact, a 2.4 real server fails with a clear reason (nothing guessed)', async () => {
  const { hosts } = await render(without('noarp_source'));
  for (const rs of ['rs1', 'rs2']) {
    assert.match(hosts[rs]!.report.error ?? '', /2\.4\.21-37\.EL has no arp_ignore\/arp_announce; set noarp_source .* or arp_method: arptables/);
  }
  assert.equal(hosts.director!.report.recap.failed, 0);
});

test('the README command works as printed: every host of the seed rendered, exit 0', async () => {
  const out = mkdtempSync(join(tmpdir(), 'provision-seed-render-'));
  try {
    const r = await provision(['render', 'inventory/seed.yaml', '--facts', 'test/fixtures/facts/seed-legacy.yaml', '--out', out], { cwd: ROOT });
    assert.equal(r.code, 0, r.stdout.slice(0, 2000) + r.stderr);
    for (const h of ['director', 'rs1', 'rs2']) {
      assert.match(r.stdout, new RegExp(`^\\| ${h} \\| ok=\\d+ changed=\\d+ failed=0 `, 'm'));
      assert.ok(existsSync(join(out, `${h}.commands.sh`)), `${h}.commands.sh`);
    }
    assert.ok(existsSync(join(out, 'rs1/usr/local/sbin/lvs-realserver')));
    assert.ok(existsSync(join(out, 'director/etc/mon/mon.cf')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
