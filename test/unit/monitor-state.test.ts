// Membership vs health: mon's own state (recorded `moncmd list opstatus` outputs) decides whether
// a member missing from the live table is "out of service by its health check" or drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../src/inventory/load.js';
import { monHealth, parseMonOpstatus, MonStateError } from '../../src/lvs/monitor-state.js';
import { ipvsRules } from '../../src/lvs/ipvs-rules.js';
import { desiredTable, parseIpvsSave } from '../../src/lvs/ipvs-table.js';
import { testContext } from './helpers/local-host.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const fixture = (n: string) => readFileSync(join(ROOT, 'test/fixtures/mon', n), 'utf8');
const lvs = () => loadInventory(join(ROOT, 'inventory/seed.yaml')).lvs!;
const RS1 = '-t 192.168.0.218:80 192.168.0.216:80';
const RS2 = '-t 192.168.0.218:80 192.168.0.217:80';

test('mon opstatus: a failing watch is down since its first failure, an ok one is up; escapes decoded', () => {
  const ops = parseMonOpstatus(fixture('opstatus-rs1-down.txt'));
  assert.deepEqual(
    ops.map((o) => [o.group, o.service, o.status]),
    [
      ['web_rs1', 'http', 'fail'],
      ['web_rs2', 'http', 'ok'],
    ],
  );
  assert.equal(ops[0]!.firstFailure, 1796111754);
  assert.equal(ops[1]!.firstFailure, undefined);
  const h = monHealth(lvs(), ops);
  assert.equal(h.get(RS1)!.health, 'down');
  assert.equal(h.get(RS1)!.since, new Date(1796111754 * 1000).toISOString());
  assert.match(h.get(RS1)!.detail, /web_rs1\/http: fail \(127\.0\.0\.1\)/);
  assert.equal(h.get(RS2)!.health, 'up');
});

test('mon opstatus: no answer (mon stopped, `list` not allowed) is an error, never "healthy"', () => {
  assert.throws(() => parseMonOpstatus(fixture('opstatus-mon-stopped.txt')), MonStateError);
  assert.throws(() => parseMonOpstatus(fixture('opstatus-no-list-auth.txt')), /520 command could not be executed/);
  const h = monHealth(lvs(), new MonStateError('could not connect'));
  assert.equal(h.get(RS1)!.health, 'unknown');
  // untested (mon just started) is not down either.
  const untested = parseMonOpstatus('group=web_rs1 service=http opstatus=7 last_check=0\n220 list opstatus completed\n');
  assert.equal(monHealth(lvs(), untested).get(RS1)!.health, 'unknown');
});

const LIVE_RS2_ONLY = '-A -t 192.168.0.218:80 -s rr\n-a -t 192.168.0.218:80 -r 192.168.0.217:80 -i -w 1\n';

async function planWith(monText: string) {
  const spec = lvs();
  // The seed's real servers resolved to their rips (the loader does it).
  const task = ipvsRules({ table: desiredTable(spec), monitored: spec });
  const probe = task.probe(testContext());
  const out = probe.parse({ code: 0, stdout: `#provision-ipvs ok\n${LIVE_RS2_ONLY}#provision-mon-opstatus\n${monText}` });
  return { changes: await task.plan(out, testContext()), notes: task.notes!(out, testContext()), script: probe.script };
}

test('plan: a member missing while mon reports it down is no change, and a note says why', async () => {
  const { changes, notes, script } = await planWith(fixture('opstatus-rs1-down.txt'));
  assert.deepEqual(changes, []);
  assert.equal(notes.length, 1);
  assert.match(notes[0]!, /^192\.168\.0\.216:80 of -t 192\.168\.0\.218:80: out of service: health check failing \(since 2026-/);
  // The same probe (one round trip) asks mon.
  assert.match(script.text, /moncmd -s 127\.0\.0\.1 list opstatus/);
});

test('plan: a member missing while healthy, or while mon does not answer, is drift and is re-added', async () => {
  const healthy = fixture('opstatus-rs1-down.txt')
    .replace('opstatus=0', 'opstatus=1')
    .replace(/ first_failure=\d+/, '');
  for (const mon of [healthy, fixture('opstatus-mon-stopped.txt'), fixture('opstatus-no-list-auth.txt')]) {
    const { changes, notes } = await planWith(mon);
    assert.equal(changes.length, 1, mon);
    assert.match(changes[0]!.summary, /ipvsadm -a -t 192\.168\.0\.218:80 -r 192\.168\.0\.216:80 -i -w 1/);
    assert.deepEqual(notes, []);
  }
});

test('plan: a weight edit of a healthy member still applies while the down member stays out', async () => {
  const spec = lvs();
  spec.services[0]!.realServers = spec.services[0]!.realServers.map((r) => ({ ...r, weight: 2 }));
  const task = ipvsRules({ table: desiredTable(spec), monitored: spec });
  const s = task
    .probe(testContext())
    .parse({ code: 0, stdout: `#provision-ipvs ok\n${LIVE_RS2_ONLY}#provision-mon-opstatus\n${fixture('opstatus-rs1-down.txt')}` });
  const changes = await task.plan(s, testContext());
  assert.equal(changes.length, 1);
  assert.equal(changes[0]!.summary, 'IPVS: ipvsadm -e -t 192.168.0.218:80 -r 192.168.0.217:80 -i -w 2');
  assert.deepEqual(
    parseIpvsSave((changes[0]!.after as { table: string }).table)[0]!.dests.map((d) => d.address),
    ['192.168.0.217:80'],
  );
});
