// Membership vs health with keepalived as the monitor, on the running VM cluster (called from the
// keepalived scenario of lvs-e2e.test.ts): a real server keepalived took out is status, not drift
// (`check` exits 0 and says since when, `up` leaves it out, `status` shows it down); one deleted by
// hand while keepalived reports it alive is drift that `up` re-adds. keepalived's raw answers
// (checker dump + journal lines, as the probe prints them) are kept in bench/results for the
// unit tests' fixtures (test/fixtures/keepalived/).
import { vmShell } from './vm-steps.js';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { VmLab } from '../../src/lab/vm/lab.js';
import type { RunReport } from '../../src/core/types.js';
import type { ClusterStatus } from '../../src/lvs/status.js';
import { keepalivedProbeScript, parseKeepalivedState } from '../../src/lvs/keepalived-state.js';
import { provision, type CliResult } from '../helpers/cli.js';

export interface KeepalivedHealthOptions {
  lab: VmLab;
  /** The running cluster's inventory with monitor: keepalived. */
  inventory: string;
  stateDir: string;
  /** The forwarding flag of the lab's method (-m for NAT). */
  flag: string;
  /** The scenario's results object (written to bench/results/e2e-keepalived.json). */
  results: Record<string, unknown>;
  /** Directory of the recorded probe outputs (bench/results). */
  recordDir: string;
}

const VIP = '10.0.0.18';
const RS1 = '10.0.0.16:80';
const RS2 = '10.0.0.17:80';
const MARK = '#provision-keepalived-state';

function helpers(o: KeepalivedHealthOptions) {
  const outputs = (o.results.outputs ??= {}) as Record<string, unknown>;
  const { on } = vmShell(() => o.lab);
  const cli = (args: string[]) => provision([...args, '--state-dir', o.stateDir], { timeoutMs: 600_000 });
  const record = (what: string, r: CliResult) => {
    outputs[what] = { code: r.code, stdout: r.stdout.slice(0, 4000), stderr: r.stderr.slice(-2000) };
  };
  /** keepalived's own answer, exactly as the live-table probe reads it on the director; kept as a fixture candidate. */
  const keepalivedState = async (name: string) => {
    const out = await on('director', keepalivedProbeScript(MARK).text);
    const file = `${o.recordDir}/keepalived-probe-${name}.txt`;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, out);
    return parseKeepalivedState(out.split(`${MARK}\n`)[1] ?? '');
  };
  return { on, cli, record, outputs, keepalivedState, table: () => on('director', 'ipvsadm -S -n') };
}

/** rs1's web server is stopped and keepalived has removed it. */
export async function keepalivedRs1Down(o: KeepalivedHealthOptions): Promise<void> {
  const { cli, record, outputs, keepalivedState, table } = helpers(o);
  const st = await keepalivedState('rs1-down');
  const rs1 = st.members.find((m) => m.dest === RS1);
  assert.deepEqual([rs1?.service, rs1?.alive], [`-t ${VIP}:80`, false], JSON.stringify(st));
  assert.equal(st.members.find((m) => m.dest === RS2)?.alive, true, JSON.stringify(st));
  assert.ok(
    st.events.some((e) => e.dest === RS1 && !e.up),
    `keepalived's journal has its "Removing service" line: ${JSON.stringify(st.events)}`,
  );

  const check = await cli(['check', o.inventory]);
  record('check-rs1-down', check);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(
    check.stdout,
    new RegExp(
      `director \\| note \\| IPVS rules \\(live table\\): ${RS1} of -t ${VIP}:80: out of service: health check failing \\(since \\d{4}-[^)]*\\) \\[keepalived checker: failing`,
    ),
  );
  const up = await cli(['up', o.inventory, '--json']);
  assert.equal(up.code, 0, up.stderr);
  for (const h of (JSON.parse(up.stdout) as RunReport).hosts)
    assert.equal(h.recap.changed, 0, `${h.host}: ${JSON.stringify(h.tasks.filter((t) => t.status === 'changed'))}`);
  assert.doesNotMatch(await table(), new RegExp(`-r ${RS1}`), 'up did not put the dead real server back');

  const text = await provision(['status', o.inventory]);
  record('status-rs1-down', text);
  assert.equal(text.code, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /rs1 +10\.0\.0\.16:80 +weight 1 \(not in table\) +DOWN since \d{4}-/);
  const js = await provision(['status', o.inventory, '--json']);
  assert.equal(js.code, 0, js.stdout + js.stderr);
  const svc = (JSON.parse(js.stdout) as ClusterStatus).services[0]!;
  assert.equal(svc.monitor, 'keepalived');
  const [s1, s2] = svc.realServers;
  assert.deepEqual([s1!.health, s2!.health], ['down', 'up'], JSON.stringify(svc));
  assert.match(s1!.since ?? '', /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(svc.drift, []);
  outputs['status-json-rs1-down'] = svc;
}

/** Both real servers alive again: a hand `ipvsadm -d` of rs2 (keepalived does not repair it) is drift; up re-adds it. */
export async function keepalivedHandDelete(o: KeepalivedHealthOptions): Promise<void> {
  const { on, cli, record, keepalivedState, table } = helpers(o);
  const st = await keepalivedState('both-alive');
  assert.deepEqual(
    st.members.map((m) => [m.dest, m.alive]),
    [
      [RS1, true],
      [RS2, true],
    ],
  );
  await on('director', `ipvsadm -d -t ${VIP}:80 -r ${RS2}`);
  const check = await cli(['check', o.inventory, '--limit', 'director']);
  record('check-rs2-deleted', check);
  assert.equal(check.code, 3, check.stdout + check.stderr);
  assert.match(check.stdout, new RegExp(`\\+-a -t ${VIP}:80 -r ${RS2} ${o.flag} -w 1`));
  assert.match(check.stdout, /missing while keepalived reports it alive/);
  const js = await provision(['status', o.inventory, '--json']);
  assert.deepEqual((JSON.parse(js.stdout) as ClusterStatus).services[0]!.drift, [`add real server ${RS2} to -t ${VIP}:80`]);
  const up = await cli(['up', o.inventory, '--limit', 'director']);
  record('up-rs2-deleted', up);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.match(await table(), new RegExp(`-a -t ${VIP}:80 -r ${RS2} ${o.flag} -w 1`));
  // keepalived still judges it: its state says alive, and a check finds nothing to do.
  assert.equal((await keepalivedState('after-repair')).members.find((m) => m.dest === RS2)?.alive, true);
  const again = await cli(['check', o.inventory, '--limit', 'director']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
}
