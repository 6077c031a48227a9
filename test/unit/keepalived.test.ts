// keepalived as the health monitor: the seed's cluster rendered offline with one service under
// keepalived and one under mon. keepalived's own parser (keepalived -t, Debian 12's 2.2.7) must
// accept the file; the IPVS table task and the boot rules leave keepalived's service alone.
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
import { ipvsRules } from '../../src/lvs/ipvs-rules.js';
import { desiredTable, parseIpvsSave } from '../../src/lvs/ipvs-table.js';
import site from '../../playbooks/site.js';
import { testContext } from './helpers/local-host.js';
import { inventoryIssues as issuesOf } from './helpers/inventory-issues.js';

const inventoryIssues = (text: string) => issuesOf(text, { values: false });

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

type Service = NonNullable<ReturnType<typeof loadInventory>['lvs']>['services'][number];

/** The seed's director rendered offline with its web service under keepalived, plus one more service made from it. */
async function renderSeedDirector(extra: (web: Service) => Service) {
  const inventory = loadInventory(join(ROOT, 'inventory/seed.yaml'));
  const web = inventory.lvs!.services[0]!;
  web.health = { ...web.health, monitor: 'keepalived', interval: 6, timeout: 3 };
  inventory.lvs!.services.push(extra(web));
  const r = await renderOffline({
    inventory,
    playbook: site,
    playbookName: 'site',
    hosts: selectHosts(inventory, 'all', 'director'),
    facts: loadFactsFixture(join(ROOT, 'test/fixtures/facts/seed-legacy.yaml')),
    projectDir: ROOT,
  });
  return r.hosts.director!;
}

// A second service on :8080 stays with mon.
const renderMixed = () =>
  renderSeedDirector((web) => ({
    ...web,
    name: 'alt',
    port: 8080,
    realServers: web.realServers.map((r) => ({ ...r, port: 8080 })),
    health: { ...web.health, monitor: 'mon', kind: 'tcp' },
  }));

const keepalivedCheck = (text: string) => {
  const f = join(mkdtempSync(join(tmpdir(), 'provision-ka-')), 'keepalived.conf');
  writeFileSync(f, text);
  return spawnSync('keepalived', ['-t', '-f', f], { encoding: 'utf8' });
};

test('keepalived.conf: one virtual_server for the keepalived service, accepted by keepalived -t', async () => {
  const d = await renderMixed();
  assert.equal(d.report.recap.failed, 0, JSON.stringify(d.report.tasks.filter((t) => t.status === 'failed')));
  const conf = d.files.find((f) => f.path === '/etc/keepalived/keepalived.conf');
  assert.ok(conf, d.files.map((f) => f.path).join(', '));
  const text = conf.content.toString('utf8');
  assert.match(text, /^virtual_server 192\.168\.0\.218 80 \{$/m);
  assert.match(text, /^ {4}lb_kind TUN$/m);
  assert.match(text, /^ {4}delay_loop 6$/m);
  for (const rs of ['192.168.0.216', '192.168.0.217'])
    assert.match(text, new RegExp(`real_server ${rs.replace(/\./g, '\\.')} 80 \\{\\n {8}weight 1\\n {8}HTTP_GET`));
  assert.doesNotMatch(text, /8080/, "the mon service is not keepalived's");
  assert.doesNotMatch(text, /vrrp/);
  const ok = keepalivedCheck(text);
  assert.equal(ok.status, 0, ok.stderr);
  // The same check fails on a broken file, so it can fail at all.
  const bad = keepalivedCheck(text.replace('lb_kind TUN', 'lb_kind TUNNEL'));
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /unknown \[TUNNEL\] routing method/);
  assert.ok(
    d.report.tasks.some((t) => t.module === 'service' && t.task === 'keepalived' && t.status === 'changed'),
    'keepalived enabled and started',
  );
});

test('mixed monitors: mon watches only its service; boot rules and the live-table task hold only non-keepalived services', async () => {
  const d = await renderMixed();
  const mon = d.files.find((f) => f.path === '/etc/mon/mon.cf')!.content.toString('utf8');
  assert.match(mon, /-V 192\.168\.0\.218:8080 /);
  assert.doesNotMatch(mon, /-V 192\.168\.0\.218:80 /);
  const rules = d.files.find((f) => f.path === '/etc/sysconfig/ipvsadm')!.content.toString('utf8');
  assert.match(rules, /^-A -t 192\.168\.0\.218:8080 -s rr$/m);
  assert.doesNotMatch(rules, /192\.168\.0\.218:80 /);
  const ipvs = d.report.tasks.find((t) => t.task === 'IPVS rules (live table)')!;
  const summary = ipvs.changes.map((c) => c.summary).join('\n');
  assert.match(summary, /ipvsadm -A -t 192\.168\.0\.218:8080 -s rr/);
  assert.doesNotMatch(summary, /192\.168\.0\.218:80 /);
});

test('the live-table task never touches a foreign service, even when its real servers differ', async () => {
  const inventory = loadInventory(join(ROOT, 'inventory/seed.yaml'));
  const lvs = inventory.lvs!;
  const ka = desiredTable(lvs);
  const web = lvs.services[0]!;
  const mine = desiredTable({ services: [{ ...web, port: 8080, realServers: web.realServers.map((r) => ({ ...r, port: 8080 })) }] });
  const task = ipvsRules({ table: mine, foreign: ['-t 192.168.0.218:80'] });
  // keepalived removed rs2 from its service: none of our business.
  const live = '-A -t 192.168.0.218:80 -s rr\n-a -t 192.168.0.218:80 -r 192.168.0.216:80 -i -w 1\n';
  const plan = async (table: string) => task.plan({ ipvsadm: true, ok: true, table: parseIpvsSave(table), error: '' }, testContext());
  const changes = await plan(live);
  assert.equal(changes.length, 1);
  assert.doesNotMatch(changes[0]!.summary, /218:80 /);
  assert.match(changes[0]!.summary, /-A -t 192\.168\.0\.218:8080/);
  // The post-apply check leaves the foreign service out.
  const step = changes[0]!.apply[0]!;
  assert.ok(step.kind === 'exec' && /awk -v 'skip=-t 192\.168\.0\.218:80'/.test(step.script.text), JSON.stringify(step));
  assert.equal(ka.length, 1);
  // Run that script for real with a STAND-IN ipvsadm (this machine has no IPVS): it prints the
  // table after the change, keepalived's service included, and accepts the add commands.
  const bin = mkdtempSync(join(tmpdir(), 'provision-ka-bin-'));
  const after = `${live}-A -t 192.168.0.218:8080 -s rr\n-a -t 192.168.0.218:8080 -r 192.168.0.216:8080 -i -w 1\n-a -t 192.168.0.218:8080 -r 192.168.0.217:8080 -i -w 1\n`;
  writeFileSync(join(bin, 'ipvsadm'), `#!/bin/sh\n[ "$1" = -S ] && printf '%s' '${after}'\nexit 0\n`, { mode: 0o755 });
  const run = spawnSync('sh', ['-c', step.kind === 'exec' ? step.script.text : ''], {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  // Without the filter the same check fails: keepalived's lines are in the live table.
  const unfiltered = spawnSync('sh', ['-c', step.kind === 'exec' ? step.script.text.replace(/ \| awk .*?in s\)'/, '') : ''], {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    encoding: 'utf8',
  });
  assert.equal(unfiltered.status, 1, unfiltered.stderr);
  assert.match(unfiltered.stderr, /IPVS table differs after applying/);
  // Once ours is in place: no change, whatever keepalived's service holds.
  const converged = `${live}-A -t 192.168.0.218:8080 -s rr\n-a -t 192.168.0.218:8080 -r 192.168.0.216:8080 -i -w 1\n-a -t 192.168.0.218:8080 -r 192.168.0.217:8080 -i -w 1\n`;
  assert.deepEqual(await plan(converged), []);
});

const udpService = (health: string) => `all:
  vars:
    lvs:
      services:
        - name: dns
          vip: 10.0.0.100
          port: 53
          protocol: udp
          forwarding: dr
          real_servers:
            - address: 10.0.0.11
${health}  children:
    directors:
      hosts:
        d1:
`;

test('inventory: a udp service is probed by a DNS query; mon cannot watch it, a tcp check cannot probe it', () => {
  assert.deepEqual(inventoryIssues(udpService('          health: {monitor: keepalived, kind: dns, query: www.example.net, interval: 5, timeout: 2}\n')), []);
  assert.deepEqual(inventoryIssues(udpService('          health: {monitor: none, kind: dns, query: a.b}\n')), []);
  assert.deepEqual(inventoryIssues(udpService('          health: {monitor: keepalived, kind: tcp, interval: 5, timeout: 2}\n')), [
    [12, 'cannot probe a udp service (HTTP and TCP connect need tcp): use kind: dns with query: NAME'],
  ]);
  assert.deepEqual(inventoryIssues(udpService('')), [
    [8, 'needs health: {kind: dns, query: NAME} (a udp service is probed with that DNS query, by its monitor and by verify)'],
  ]);
  assert.deepEqual(inventoryIssues(udpService('          health: {monitor: mon, kind: dns, query: www.example.net}\n')), [
    [
      12,
      "cannot watch a udp service here: mon's DNS monitors need Perl's Net::DNS (not on every target, not installed by provision) and ask port 53 only; use monitor keepalived (its DNS_CHECK) or none",
    ],
  ]);
  assert.deepEqual(inventoryIssues(udpService('          health: {monitor: none, kind: dns}\n')), [[12, 'needs query: NAME (the DNS name asked for, type A)']]);
  assert.deepEqual(inventoryIssues(udpService('          health: {monitor: none, kind: dns, query: "bad name;rm"}\n')), [
    [12, 'is not a DNS name (labels of [A-Za-z0-9_-], 1-63, separated by dots)'],
  ]);
  // The other way round: a DNS query for a tcp service, a query for an http check.
  const tcp = udpService('          health: {monitor: none, kind: dns, query: a.b}\n').replace('protocol: udp', 'protocol: tcp');
  assert.deepEqual(inventoryIssues(tcp), [[12, 'is a DNS query over UDP: only for protocol: udp (use http or tcp)']]);
  const httpQuery = tcp.replace('kind: dns', 'kind: http');
  assert.deepEqual(inventoryIssues(httpQuery), [[12, 'is only for kind: dns']]);
});

test('keepalived.conf: a udp service gets a DNS_CHECK per real server, accepted by keepalived -t', async () => {
  const d = await renderSeedDirector((web) => ({
    ...web,
    name: 'dns',
    port: 53,
    protocol: 'udp',
    realServers: web.realServers.map((r) => ({ ...r, port: 53 })),
    health: { monitor: 'keepalived', kind: 'dns', url: '/', query: 'www.example.net', interval: 10, timeout: 2 },
  }));
  assert.equal(d.report.recap.failed, 0, JSON.stringify(d.report.tasks.filter((t) => t.status === 'failed')));
  const text = d.files.find((f) => f.path === '/etc/keepalived/keepalived.conf')!.content.toString('utf8');
  const udp = text.slice(text.indexOf('virtual_server 192.168.0.218 53 {'));
  assert.ok(udp.length < text.length, text);
  assert.match(udp, /^ {4}protocol UDP$/m);
  for (const rs of ['192.168.0.216', '192.168.0.217'])
    assert.match(
      udp,
      new RegExp(
        `real_server ${rs.replace(/\./g, '\\.')} 53 \\{\\n {8}weight 1\\n {8}DNS_CHECK \\{\\n {12}type A\\n {12}name www\\.example\\.net\\n {12}connect_port 53\\n {12}connect_timeout 2\\n`,
      ),
    );
  assert.doesNotMatch(udp, /HTTP_GET|TCP_CHECK/);
  const ok = keepalivedCheck(text);
  assert.equal(ok.status, 0, ok.stderr);
  // keepalived -t does read the DNS_CHECK block: a query type it does not know fails it.
  const bad = keepalivedCheck(text.replace('type A', 'type BOGUS'));
  assert.notEqual(bad.status, 0, bad.stderr);
});
