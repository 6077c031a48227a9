// Tags on the LVS plays: `-t rules` selects the IPVS table and exactly the config that carries its
// weights (boot rules, mon.cf / keepalived.conf), so a partial run cannot leave the monitor re-adding
// a real server with a weight the table no longer has; every task carries its role tag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadInventory } from '../../src/inventory/load.js';
import { loadFactsFixture } from '../../src/core/facts-fixture.js';
import { hostWork } from '../../src/core/run.js';
import site from '../../playbooks/site.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const facts = loadFactsFixture(join(ROOT, 'test/fixtures/facts/seed-legacy.yaml'));

function tasksOf(host: string, monitor: 'mon' | 'keepalived' = 'mon') {
  const inventory = loadInventory(join(ROOT, 'inventory/seed.yaml'));
  for (const s of inventory.lvs!.services) s.health = { ...s.health, monitor };
  const h = inventory.hosts.get(host)!;
  const work = hostWork(inventory, site, h, ROOT);
  // rs1's RHAS 3 kernel predates arp_ignore (it needs a noarp artifact): give it the sysctls here.
  return work.build({ host, facts: { ...facts[host]!, arpSysctls: true }, vars: h.vars, projectDir: ROOT, inventory }).tasks;
}
const withTag = (tasks: ReturnType<typeof tasksOf>, tag: string) => tasks.filter((t) => t.tags?.includes(tag)).map((t) => t.name);

test('-t rules on the director: the live table, the boot rules and mon.cf, nothing else', () => {
  const tasks = tasksOf('director');
  assert.deepEqual(withTag(tasks, 'rules'), ['IPVS rules loaded at boot', 'mon.cf: one watch per real server', 'IPVS rules (live table)']);
  assert.deepEqual(withTag(tasksOf('director', 'keepalived'), 'rules'), [
    'IPVS rules loaded at boot',
    'keepalived.conf: one virtual_server per service',
    'IPVS rules (live table)',
  ]);
  // mon.cf notifies mon's restart: handlers always run, so the monitor reloads the new weights.
  assert.deepEqual(tasks.find((t) => t.name.startsWith('mon.cf'))!.notify, ['restart mon']);
});

test('every LVS task has its role tag; vip and sysctl tasks are tagged by module', () => {
  const d = tasksOf('director');
  for (const t of d) assert.ok(t.tags!.includes('director') || t.tags!.includes('monitor'), `${t.name}: ${t.tags}`);
  assert.deepEqual(
    withTag(d, 'monitor').filter((n) => n.startsWith('mon.cf')),
    ['mon.cf: one watch per real server'],
  );
  assert.ok(withTag(d, 'vip').length >= 1);
  assert.ok(d.filter((t) => t.module === 'ipAddress').every((t) => t.tags!.includes('vip')));
  assert.ok(d.filter((t) => t.module === 'sysctl').every((t) => t.tags!.includes('sysctl')));
  const rs = tasksOf('rs1');
  assert.ok(rs.length > 0 && rs.every((t) => t.tags!.includes('realserver')));
  assert.deepEqual(withTag(rs, 'rules'), []);
  assert.ok(withTag(rs, 'sysctl').length >= 2);
});
