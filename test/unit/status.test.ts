// `provision status`: the director's one-round-trip script run for real with stand-in ipvsadm,
// moncmd and ip (recorded outputs), parsed and joined with the inventory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../src/inventory/load.js';
import { clusterStatus, ipvsNumber, parseDirector, parseIpvsList, renderStatus, statusScript } from '../../src/lvs/status.js';
import { ipvsRules } from '../../src/lvs/ipvs-rules.js';
import { desiredTable } from '../../src/lvs/ipvs-table.js';
import { batchProbes } from '../../src/core/batch.js';
import { sh, testContext } from './helpers/local-host.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const fx = (p: string) => readFileSync(join(ROOT, 'test/fixtures', p), 'utf8');

/** The lab's NAT service: VIP 10.0.0.18:80, rs1 10.0.0.16, rs2 10.0.0.17, watched by mon. */
function labLvs() {
  const lvs = loadInventory(join(ROOT, 'inventory/seed.yaml')).lvs!;
  const s = lvs.services[0]!;
  s.vip = '10.0.0.18';
  s.forwarding = 'nat';
  s.realServers = [
    { host: 'rs1', address: '10.0.0.16', port: 80, weight: 1 },
    { host: 'rs2', address: '10.0.0.17', port: 80, weight: 1 },
  ];
  return lvs;
}

/** A PATH whose ipvsadm, moncmd and ip print recorded outputs. */
function standIns(save: string, mon: string, monCode = 0): string {
  const bin = mkdtempSync(join(tmpdir(), 'provision-status-bin-'));
  const w = (name: string, body: string) => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  const cat = (f: string) => {
    const p = join(bin, `${f.replace(/\//g, '_')}.out`);
    writeFileSync(p, fx(f));
    return `cat ${p}`;
  };
  writeFileSync(join(bin, 'save.out'), save);
  writeFileSync(join(bin, 'mon.out'), mon);
  w(
    'ipvsadm',
    `case "$*" in
  "-S -n") cat ${bin}/save.out ;;
  "-Ln") ${cat('ipvsadm/list.txt')} ;;
  "-Ln --stats --exact") exit 2 ;;
  "-Ln --stats") ${cat('ipvsadm/stats.txt')} ;;
  "-Ln --rate --exact") exit 2 ;;
  "-Ln --rate") ${cat('ipvsadm/rate.txt')} ;;
  *) exit 9 ;;
esac`,
  );
  w('moncmd', `cat ${bin}/mon.out; exit ${monCode}`);
  w('ip', `echo '2: eth1    inet 10.0.0.15/24 brd 10.0.0.255 scope global eth1'; echo '2: eth1    inet 10.0.0.18/32 scope global eth1:1'`);
  return `${bin}:${process.env.PATH}`;
}

const SAVE = '-A -t 10.0.0.18:80 -s rr\n-a -t 10.0.0.18:80 -r 10.0.0.17:80 -m -w 1\n';
// The recorded mon output, with the lab's group names (same service, same watches).
const MON_DOWN = fx('mon/opstatus-rs1-down.txt');

test('ipvsadm -Ln family: services and real servers keyed like the save form; K/M suffixes', () => {
  const l = parseIpvsList(fx('ipvsadm/list.txt'));
  assert.deepEqual([...l.keys()], ['-t 10.0.0.18:80']);
  assert.deepEqual(l.get('-t 10.0.0.18:80')!.dests.get('10.0.0.17:80'), ['Masq', '1', '1', '12']);
  assert.equal(ipvsNumber('15K'), 15000);
  assert.equal(ipvsNumber('3M'), 3e6);
  assert.ok(Number.isNaN(ipvsNumber('x')));
  const f = parseIpvsList('FWM  1 wlc persistent 60\n  -> 10.0.0.5:0   Route 2 0 0\nUDP  10.0.0.18:53 rr\n  -> 10.0.0.5:53 Masq 1 0 4\n');
  assert.deepEqual([...f.keys()], ['-f 1', '-u 10.0.0.18:53']);
});

test("status: rs1 down since mon's first failure (not drift), rs2 carrying the traffic; one script", async () => {
  const r = await sh(statusScript().text, { env: { PATH: standIns(SAVE, MON_DOWN) } });
  assert.equal(r.code, 0, r.stderr);
  const lvs = labLvs();
  const d = parseDirector('director', r.stdout, lvs);
  assert.equal(d.error, undefined);
  const st = clusterStatus(lvs, [d]);
  const web = st.services[0]!;
  assert.deepEqual(web.vipHolders, ['director']);
  assert.deepEqual(web.drift, []);
  assert.equal(web.healthy, 1);
  const [rs1, rs2] = web.realServers;
  assert.deepEqual([rs1!.health, rs1!.liveWeight, rs1!.since], ['down', null, new Date(1796111754 * 1000).toISOString()]);
  assert.deepEqual(
    [rs2!.health, rs2!.liveWeight, rs2!.active, rs2!.inactive, rs2!.conns, rs2!.cps, rs2!.inBps, rs2!.outBps],
    ['up', 1, 1, 12, 20, 2, 800, 15000],
  );
  assert.equal(st.ok, true);
  const text = renderStatus(st);
  assert.match(text, /rs1 +10\.0\.0\.16:80 +weight 1 \(not in table\) +DOWN since 2026-/);
  assert.match(text, /rs2 +10\.0\.0\.17:80 +weight 1 +up +active 1 inactive 12/);
  assert.match(text, /drift: none/);
});

test('status: a member missing while mon says ok is drift; no healthy real server fails; mon stopped = unknown', async () => {
  const healthy = MON_DOWN.replace('opstatus=0', 'opstatus=1').replace(/ first_failure=\d+/, '');
  const lvs = labLvs();
  const run = async (save: string, mon: string, code = 0) =>
    clusterStatus(lvs, [parseDirector('director', (await sh(statusScript().text, { env: { PATH: standIns(save, mon, code) } })).stdout, lvs)]);
  const drift = await run(SAVE, healthy);
  assert.deepEqual(drift.services[0]!.drift, ['add real server 10.0.0.16:80 to -t 10.0.0.18:80']);
  // rs2 also failing and gone: nobody serves.
  const bothDown = MON_DOWN.replace(/group=web_rs2 service=http opstatus=1/, 'group=web_rs2 service=http opstatus=0');
  const none = await run('-A -t 10.0.0.18:80 -s rr\n', bothDown);
  assert.equal(none.services[0]!.healthy, 0);
  assert.equal(none.ok, false);
  assert.match(renderStatus(none), /NO HEALTHY REAL SERVER for web/);
  const stopped = await run(SAVE, 'could not connect: Connection refused\n', 111);
  assert.equal(stopped.services[0]!.realServers[0]!.health, 'unknown');
  assert.deepEqual(stopped.services[0]!.drift, ['add real server 10.0.0.16:80 to -t 10.0.0.18:80']);
});

test("the live-table probe, run by the shell through the batch, carries mon's answer to the plan", async () => {
  const lvs = labLvs();
  const task = ipvsRules({ table: desiredTable(lvs), monitored: lvs });
  const probe = task.probe(testContext());
  const batch = batchProbes([probe.script]);
  const r = await sh(batch.script.text, { env: { PATH: standIns(SAVE, MON_DOWN) } });
  const state = probe.parse(batch.split(r.stdout)[0]!);
  assert.ok(Array.isArray(state.mon), String(state.mon));
  assert.deepEqual(await task.plan(state, testContext()), []);
  assert.equal(task.notes!(state, testContext()).length, 1);
});
