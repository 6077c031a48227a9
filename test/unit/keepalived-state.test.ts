// Membership vs health with keepalived: its own state (the checker's SIGUSR1 dump and its journal
// lines, recorded on the VM lab's director: test/fixtures/keepalived/) decides whether a member
// missing from the live table is out of service (status) or drift, in the live-table task and in
// `provision status`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../src/inventory/load.js';
import {
  KeepalivedStateError,
  keepalivedHealth,
  keepalivedProbeScript,
  parseKeepalivedDump,
  parseKeepalivedLog,
  parseKeepalivedState,
} from '../../src/lvs/keepalived-state.js';
import { ipvsRules } from '../../src/lvs/ipvs-rules.js';
import { desiredTable, parseIpvsSave, serviceKey } from '../../src/lvs/ipvs-table.js';
import { clusterStatus, parseDirector, renderStatus } from '../../src/lvs/status.js';
import type { PlannedChange } from '../../src/core/types.js';
import { testContext } from './helpers/local-host.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const fx = (n: string) => readFileSync(join(ROOT, 'test/fixtures/keepalived', n), 'utf8');
const MARK = '#provision-keepalived-state';
/** What the probe printed after its marker (the fixtures are the whole probe output). */
const answer = (n: string) => fx(n).split(`${MARK}\n`)[1]!;
const RS1 = '-t 10.0.0.18:80 10.0.0.16:80';
const RS2 = '-t 10.0.0.18:80 10.0.0.17:80';

/** The VM lab's NAT service under keepalived: VIP 10.0.0.18:80, rs1 10.0.0.16, rs2 10.0.0.17. */
function labLvs() {
  const lvs = loadInventory(join(ROOT, 'inventory/seed.yaml')).lvs!;
  const s = lvs.services[0]!;
  s.vip = '10.0.0.18';
  s.forwarding = 'nat';
  s.health = { ...s.health, monitor: 'keepalived' };
  s.realServers = [
    { host: 'rs1', address: '10.0.0.16', port: 80, weight: 1 },
    { host: 'rs2', address: '10.0.0.17', port: 80, weight: 1 },
  ];
  return lvs;
}

/** The time of the last "Removing service [10.0.0.16]..." line of a fixture (journalctl -o short-unix). */
const lastRemoval = (n: string) => {
  const lines = fx(n)
    .split('\n')
    .filter((l) => /Removing service \[10\.0\.0\.16\]/.test(l));
  return new Date(Number(lines.at(-1)!.split(' ')[0]) * 1000).toISOString();
};

test("keepalived dump: each real server's alive flag under its virtual server; the log's last removal is the outage's start", () => {
  const st = parseKeepalivedState(answer('probe-rs1-down.txt'));
  assert.deepEqual(
    st.members.map((m) => [m.service, m.dest, m.alive, m.weight]),
    [
      ['-t 10.0.0.18:80', '10.0.0.16:80', false, 1],
      ['-t 10.0.0.18:80', '10.0.0.17:80', true, 1],
    ],
  );
  assert.ok(st.members[0]!.failedCheckers >= 1);
  assert.ok(
    st.events.some((e) => e.dest === '10.0.0.16:80' && e.service === '-t 10.0.0.18:80' && !e.up),
    JSON.stringify(st.events),
  );
  const h = keepalivedHealth(labLvs(), st);
  assert.deepEqual([h.get(RS1)!.health, h.get(RS1)!.since], ['down', lastRemoval('probe-rs1-down.txt')]);
  assert.match(h.get(RS1)!.detail, /^keepalived checker: failing \(\d+ failed checkers?\)$/);
  assert.equal(h.get(RS2)!.health, 'up');
  assert.equal(h.get(RS2)!.since, undefined);
  const alive = keepalivedHealth(labLvs(), parseKeepalivedState(answer('probe-both-alive.txt')));
  assert.deepEqual([alive.get(RS1)!.health, alive.get(RS2)!.health], ['up', 'up']);
});

test('keepalived log: add/remove lines of every form (inhibited, fwmark) parse; other lines are ignored', () => {
  const ev = parseKeepalivedLog(
    [
      '1796200000.5 director Keepalived_healthcheckers[812]: Removing service [10.0.0.16]:tcp:80 from VS [10.0.0.18]:tcp:80',
      '1796200001.0 director Keepalived_healthcheckers[812]: Disabling (inhibited) service [10.0.0.17]:udp:53 of VS [10.0.0.18]:udp:53',
      '1796200002.0 director Keepalived_healthcheckers[812]: Adding service [10.0.0.16]:none:0 to VS FWM 7',
      '1796200003.0 director Keepalived_healthcheckers[812]: HTTP_CHECK on service [10.0.0.16]:tcp:80 failed after 1 retries.',
    ].join('\n'),
  );
  assert.deepEqual(
    ev.map((e) => [e.at, e.service, e.dest, e.up]),
    [
      [1796200000.5, '-t 10.0.0.18:80', '10.0.0.16:80', false],
      [1796200001, '-u 10.0.0.18:53', '10.0.0.17:53', false],
      [1796200002, '-f 7', '10.0.0.16:0', true],
    ],
  );
  // A member back up after its removal has no "since"; one the log never mentions is down without a time.
  const lvs = labLvs();
  const dump = parseKeepalivedDump(answer('probe-rs1-down.txt').split('#keepalived-log\n')[0]!);
  const readded = keepalivedHealth(lvs, { members: dump, events: [...ev, { at: 1796200009, service: '-t 10.0.0.18:80', dest: '10.0.0.16:80', up: true }] });
  assert.deepEqual([readded.get(RS1)!.health, readded.get(RS1)!.since], ['down', undefined]);
});

test('keepalived not answering (no checker process, no dump written, a truncated dump) is an error: health unknown, never up', () => {
  assert.throws(() => parseKeepalivedState('#keepalived-no-checker\n'), KeepalivedStateError);
  assert.throws(() => parseKeepalivedState('#keepalived-dump-timeout\n#keepalived-log\n'), /wrote no \/tmp\/keepalived_check\.data within 5 s/);
  assert.throws(() => parseKeepalivedState('#keepalived-dump\n------< Global definitions >------\n#keepalived-log\n'), /no LVS topology/);
  assert.throws(() => parseKeepalivedState(''), /no answer/);
  const h = keepalivedHealth(labLvs(), new KeepalivedStateError('no keepalived checker process is running'));
  assert.deepEqual([h.get(RS1)!.health, h.get(RS1)!.detail], ['unknown', 'keepalived status: no keepalived checker process is running']);
  // A member keepalived does not check (its config not applied yet) is unknown too.
  const lvs = labLvs();
  lvs.services[0]!.realServers.push({ host: 'rs3', address: '10.0.0.19', port: 80, weight: 1 });
  const h3 = keepalivedHealth(lvs, parseKeepalivedState(answer('probe-both-alive.txt')));
  assert.equal(h3.get('-t 10.0.0.18:80 10.0.0.19:80')!.health, 'unknown');
});

test('the probe, run by the shell: signals the checker process (DATA), waits for its dump, reads only its journal lines', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-ka-probe-'));
  const recorded = answer('probe-rs1-down.txt');
  const [dumpText, logText] = recorded.split('#keepalived-log\n') as [string, string];
  writeFileSync(join(dir, 'dump.src'), dumpText.replace('#keepalived-dump\n', ''));
  // A stand-in checker process: on SIGUSR1 it writes the recorded dump, slowly (as keepalived, asynchronously).
  const checker = spawn(
    'sh',
    ['-c', `trap 'sleep 0.3; cat ${dir}/dump.src > ${dir}/dump.tmp; mv ${dir}/dump.tmp ${dir}/keepalived_check.data' USR1; while :; do sleep 0.05; done`],
    { stdio: 'ignore' },
  );
  try {
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(join(dir, 'checkers.pid'), `${checker.pid}\n`);
    // A stand-in journalctl: only the checker's own lines (_PID=...) are asked for; noise is filtered out.
    writeFileSync(
      join(dir, 'journalctl'),
      `#!/bin/sh\n[ "$1" = "_PID=${checker.pid}" ] || { echo "unexpected $*" >&2; exit 3; }\necho '1796200000.0 director Keepalived_healthcheckers[${checker.pid}]: Printing checker data for process(${checker.pid}) on signal'\ncat ${dir}/log.src\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(dir, 'log.src'), logText);
    const script = keepalivedProbeScript(MARK, {
      checkerPidFiles: [join(dir, 'none.pid'), join(dir, 'checkers.pid')],
      dump: join(dir, 'keepalived_check.data'),
    });
    const r = spawnSync('sh', ['-c', script.text], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
    assert.equal(r.status, 0, r.stderr);
    const st = parseKeepalivedState(r.stdout.split(`${MARK}\n`)[1]!);
    assert.deepEqual(st, parseKeepalivedState(recorded));
    // No checker process (stale pid file): said so, nothing signalled.
    writeFileSync(join(dir, 'checkers.pid'), '999999999\n');
    const none = spawnSync('sh', ['-c', script.text], { encoding: 'utf8' });
    assert.throws(() => parseKeepalivedState(none.stdout.split(`${MARK}\n`)[1]!), /no keepalived checker process is running/);
  } finally {
    checker.kill();
  }
});

/** The live-table task as the director play builds it for a keepalived service, planned on a probe output. */
async function planKeepalived(save: string, kaAnswer: string) {
  const lvs = labLvs();
  const ka = desiredTable(lvs);
  const task = ipvsRules({ table: [], foreign: ka.map(serviceKey), monitored: { ...lvs, services: [] }, keepalived: lvs });
  const probe = task.probe(testContext());
  const state = probe.parse({ code: 0, stdout: `#provision-ipvs ok\n${save}${MARK}\n${kaAnswer}` });
  return { changes: await task.plan(state, testContext()), notes: task.notes!(state, testContext()), script: probe.script.text };
}

const BOTH = '-A -t 10.0.0.18:80 -s rr\n-a -t 10.0.0.18:80 -r 10.0.0.16:80 -m -w 1\n-a -t 10.0.0.18:80 -r 10.0.0.17:80 -m -w 1\n';
const RS2_ONLY = '-A -t 10.0.0.18:80 -s rr\n-a -t 10.0.0.18:80 -r 10.0.0.17:80 -m -w 1\n';
const RS1_ONLY = '-A -t 10.0.0.18:80 -s rr\n-a -t 10.0.0.18:80 -r 10.0.0.16:80 -m -w 1\n';

test('plan: a member keepalived took out is no change (check exits 0), and a note says since when', async () => {
  const { changes, notes, script } = await planKeepalived(RS2_ONLY, answer('probe-rs1-down.txt'));
  assert.deepEqual(changes, []);
  assert.deepEqual(notes, [
    `10.0.0.16:80 of -t 10.0.0.18:80: out of service: health check failing (since ${lastRemoval('probe-rs1-down.txt')}) [keepalived checker: failing (1 failed checker)]`,
  ]);
  // keepalived is asked in the same probe as the table (one round trip).
  assert.match(script, /ipvsadm -S -n[\s\S]*keepalived --signum=DATA/);
});

function runStep(change: PlannedChange, which: 'apply' | 'undo', liveAfter: string) {
  const bin = mkdtempSync(join(tmpdir(), 'provision-ka-bin-'));
  writeFileSync(join(bin, 'after.out'), liveAfter);
  writeFileSync(join(bin, 'ipvsadm'), `#!/bin/sh\necho "$*" >> ${bin}/calls\n[ "$1" = -S ] && cat ${bin}/after.out\nexit 0\n`, { mode: 0o755 });
  const step = change[which]?.[0];
  assert.ok(step?.kind === 'exec', JSON.stringify(step));
  const r = spawnSync('sh', ['-c', step.script.text], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
  const calls = readFileSync(join(bin, 'calls'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('-S'));
  return { code: r.status, stderr: r.stderr, calls };
}

test('plan: a member missing while keepalived reports it alive (hand ipvsadm -d) is drift: re-added with ipvsadm -a, checked, undone', async () => {
  const { changes, notes } = await planKeepalived(RS1_ONLY, answer('probe-both-alive.txt'));
  assert.deepEqual(notes, []);
  assert.equal(changes.length, 1);
  const c = changes[0]!;
  assert.equal(c.summary, 'IPVS: ipvsadm -a -t 10.0.0.18:80 -r 10.0.0.17:80 -m -w 1');
  assert.match(c.reason ?? '', /add real server 10\.0\.0\.17:80 to -t 10\.0\.0\.18:80: missing while keepalived reports it alive/);
  assert.match(c.diff ?? '', /^\+-a -t 10\.0\.0\.18:80 -r 10\.0\.0\.17:80 -m -w 1$/m);
  // Apply: the add only; the check looks for that line (keepalived may change the rest meanwhile).
  const ok = runStep(c, 'apply', BOTH);
  assert.deepEqual([ok.code, ok.calls], [0, ['-a -t 10.0.0.18:80 -r 10.0.0.17:80 -m -w 1']], ok.stderr);
  const missing = runStep(c, 'apply', RS1_ONLY);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not in the live table after applying: -a -t 10\.0\.0\.18:80 -r 10\.0\.0\.17:80/);
  // Undo: the table as it was read.
  const undo = runStep(c, 'undo', RS1_ONLY);
  assert.deepEqual([undo.code, undo.calls], [0, ['-d -t 10.0.0.18:80 -r 10.0.0.17:80']], undo.stderr);
  // Once back: nothing to do.
  assert.deepEqual((await planKeepalived(BOTH, answer('probe-both-alive.txt'))).changes, []);
});

test("plan: keepalived's state unreadable = no change and a note (never a guess); its own weights and extra members are left alone", async () => {
  const { changes, notes } = await planKeepalived(RS2_ONLY, '#keepalived-no-checker\n');
  assert.deepEqual(changes, []);
  assert.deepEqual(notes, [
    '10.0.0.16:80 of -t 10.0.0.18:80: missing from the live table; health unknown, left to keepalived [keepalived status: no keepalived checker process is running]',
  ]);
  // keepalived's service not loaded at all (keepalived not started yet, an offline render): no note per member.
  assert.deepEqual(await planKeepalived('', '#keepalived-no-checker\n'), { changes: [], notes: [], script: (await planKeepalived('', '')).script });
  const odd = `${BOTH.replace('10.0.0.16:80 -m -w 1', '10.0.0.16:80 -m -w 5')}-a -t 10.0.0.18:80 -r 10.0.0.30:80 -m -w 1\n`;
  assert.deepEqual((await planKeepalived(odd, answer('probe-both-alive.txt'))).changes, []);
  // Without keepalived services the probe does not signal keepalived at all.
  const mine = ipvsRules({ table: desiredTable(labLvs()) });
  assert.doesNotMatch(mine.probe(testContext()).script.text, /keepalived/);
  assert.equal(parseIpvsSave(BOTH).length, 1);
});

/** A director's status output with the given save table and keepalived answer (the other sections recorded ones). */
function statusOf(save: string, kaAnswer: string) {
  const ipvs = (f: string) => readFileSync(join(ROOT, 'test/fixtures/ipvsadm', f), 'utf8');
  const out = [
    '#provision-status addr',
    '2: eth1    inet 10.0.0.15/24 brd 10.0.0.255 scope global eth1',
    '2: eth1    inet 10.0.0.18/32 scope global eth1',
    '#provision-status save',
    save.trimEnd(),
    '#provision-status list',
    ipvs('list.txt').trimEnd(),
    '#provision-status stats',
    ipvs('stats.txt').trimEnd(),
    '#provision-status rate',
    ipvs('rate.txt').trimEnd(),
    '#provision-status mon',
    '#provision-status keepalived',
    kaAnswer.trimEnd(),
    '#provision-status now',
    '1796200300',
  ].join('\n');
  const lvs = labLvs();
  return clusterStatus(lvs, [parseDirector('director', `${out}\n`, lvs)]);
}

test("status: keepalived's verdict and since-when per real server; missing while alive is drift; unreadable is unknown", () => {
  const down = statusOf(RS2_ONLY, answer('probe-rs1-down.txt'));
  const web = down.services[0]!;
  assert.equal(web.monitor, 'keepalived');
  assert.deepEqual(
    web.realServers.map((r) => [r.health, r.since, r.liveWeight]),
    [
      ['down', lastRemoval('probe-rs1-down.txt'), null],
      ['up', undefined, 1],
    ],
  );
  assert.deepEqual(web.drift, []);
  assert.equal(down.ok, true);
  const text = renderStatus(down);
  assert.match(text, /rs1 +10\.0\.0\.16:80 +weight 1 \(not in table\) +DOWN since 20\d\d-/);
  assert.match(text, /health: keepalived checker: failing/);
  // JSON carries the same (what --json prints).
  assert.equal((JSON.parse(JSON.stringify(down)) as typeof down).services[0]!.realServers[0]!.since, lastRemoval('probe-rs1-down.txt'));

  const deleted = statusOf(RS1_ONLY, answer('probe-both-alive.txt')).services[0]!;
  assert.deepEqual(deleted.drift, ['add real server 10.0.0.17:80 to -t 10.0.0.18:80']);

  const unknown = statusOf(RS2_ONLY, '#keepalived-no-checker').services[0]!;
  assert.deepEqual(
    unknown.realServers.map((r) => r.health),
    ['unknown', 'unknown'],
  );
  assert.match(unknown.realServers[0]!.healthDetail, /no keepalived checker process is running/);
  assert.deepEqual(unknown.drift, []);
  assert.match(renderStatus(statusOf(RS2_ONLY, '#keepalived-no-checker')), /rs1 .* unknown /);
});
