// mon.cf's hostgroup and watch names: one per (service, real server), unique even where
// service_host with non-alphanumerics as _ collides (mon refuses the whole file on a duplicate),
// and tcp checks honour health.timeout as http checks do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadInventory } from '../../src/inventory/load.js';
import { selectHosts } from '../../src/inventory/select.js';
import { loadFactsFixture } from '../../src/core/facts-fixture.js';
import { renderOffline } from '../../src/core/offline.js';
import { uniqueNames } from '../../src/lvs/model.js';
import site from '../../playbooks/site.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const service = (name: string, vip: string, hosts: string[], health = '{monitor: mon, kind: http}') => `        - name: ${name}
          vip: ${vip}
          port: 80
          forwarding: dr
          real_servers: [${hosts.map((h) => `{host: ${h}}`).join(', ')}]
          health: ${health}
`;

const inventory = (services: string, realServers: string[]) => `all:
  vars:
    lvs:
      services:
${services}  children:
    directors:
      hosts:
        director: {dip: 10.0.0.15}
    real_servers:
      hosts:
${realServers.map((h, i) => `        ${h}: {rip: 10.0.0.${16 + i}}\n`).join('')}`;

/** The director's mon.cf, rendered offline with Debian 12 facts. */
async function monCf(text: string): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'provision-mon-')), 'inventory.yaml');
  writeFileSync(file, text);
  const inv = loadInventory(file);
  const r = await renderOffline({
    inventory: inv,
    playbook: site,
    playbookName: 'site',
    hosts: selectHosts(inv, 'directors'),
    facts: loadFactsFixture(join(ROOT, 'test/fixtures/facts/debian-12.yaml')),
    projectDir: ROOT,
  });
  const f = r.hosts.director!.files.find((x) => x.path === '/etc/mon/mon.cf');
  assert.ok(f, 'mon.cf not written');
  return f.content.toString('utf8');
}

const names = (cf: string, keyword: string) => [...cf.matchAll(new RegExp(`^${keyword} (\\S+)`, 'gm'))].map((m) => m[1]);

test('mon.cf: hosts rs-1 and rs_1 of one service get distinct hostgroups and watches', async () => {
  const cf = await monCf(inventory(service('web', '10.0.0.100', ['rs-1', 'rs_1']), ['rs-1', 'rs_1']));
  assert.deepEqual(names(cf, 'hostgroup'), ['web_rs_1', 'web_rs_1_2']);
  assert.deepEqual(names(cf, 'watch'), ['web_rs_1', 'web_rs_1_2']);
  assert.match(cf, /^hostgroup web_rs_1 10\.0\.0\.16$/m);
  assert.match(cf, /^hostgroup web_rs_1_2 10\.0\.0\.17$/m);
});

test('mon.cf: service a + host b_c and service a_b + host c get distinct hostgroups', async () => {
  const cf = await monCf(inventory(service('a', '10.0.0.100', ['b_c']) + service('a_b', '10.0.0.101', ['c']), ['b_c', 'c']));
  assert.deepEqual(names(cf, 'hostgroup'), ['a_b_c', 'a_b_c_2']);
  assert.deepEqual(names(cf, 'watch'), ['a_b_c', 'a_b_c_2']);
});

test('uniqueNames: names that do not collide stay; a suffix never takes a name already in the list', () => {
  assert.deepEqual(uniqueNames(['web_rs1', 'web_rs2']), ['web_rs1', 'web_rs2']);
  assert.deepEqual(uniqueNames(['x', 'x', 'x_2', 'x']), ['x', 'x_3', 'x_2', 'x_4']);
});

test('mon.cf: a tcp check passes health.timeout to tcp.monitor (-t), as the http check does', async () => {
  const cf = await monCf(inventory(service('web', '10.0.0.100', ['rs1'], '{monitor: mon, kind: tcp, interval: 10, timeout: 3}'), ['rs1']));
  assert.match(cf, /^ {8}monitor tcp\.monitor -p 80 -t 3$/m);
});
