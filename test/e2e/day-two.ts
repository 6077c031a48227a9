// Day two on the running VM cluster (NAT with mon, after the per-method scenarios): the health
// monitor is respected (a real server mon took out is status, not drift), `status` shows the
// cluster, a real server is drained during a long download and undrained, and two concurrent
// `up` runs cannot both go. Called from lvs-e2e.test.ts; timings and outputs go to
// bench/results/e2e-day-two.json.
import { timer, vmShell, waitFor } from './vm-steps.js';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { VmLab } from '../../src/lab/vm/lab.js';
import type { RunReport } from '../../src/core/types.js';
import type { ClusterStatus } from '../../src/lvs/status.js';
import { spawn } from 'node:child_process';
import { CLI, provision, type CliResult } from '../helpers/cli.js';

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
  const timed = timer(timings);
  const { sh, on } = vmShell(() => o.lab);
  const table = () => on('director', 'ipvsadm -S -n');
  const cli = (args: string[]) => provision([...args, '--state-dir', o.stateDir], { timeoutMs: 600_000 });
  const record = (what: string, r: CliResult) => {
    outputs[what] = { code: r.code, stdout: r.stdout.slice(0, 4000), stderr: r.stderr.slice(-2000) };
  };
  const inv = o.inventory;
  // Two intervals plus slack: the lab's VMs share two host cores with everything else (TCG).
  const monLimit = 2 * o.interval * 1000 + 30_000;
  // A failure while `drain --wait` runs must not leave it holding the state dir's lock for the scenarios after this one.
  const stopDrain = new AbortController();

  try {
    // --- membership vs health
    await on('rs1', '/etc/init.d/demo-web stop');
    timings.monRemovesRs1 = await waitFor('mon removes rs1', async () => !(await table()).includes(`-r ${RS1}`), monLimit);
    const check = await timed('check-rs1-down', () => cli(['check', inv]));
    record('check-rs1-down', check);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(
      check.stdout,
      new RegExp(`director \\| note \\| IPVS rules \\(live table\\): ${RS1} of -t ${VIP}:80: out of service: health check failing \\(since \\d{4}-`),
    );
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
    assert.deepEqual(
      (JSON.parse(after.stdout) as ClusterStatus).services[0]!.realServers.map((r) => r.health),
      ['up', 'up'],
    );

    // --- drain rs2 during two long downloads (rr: one lands on each real server)
    const original = readFileSync(inv, 'utf8');
    try {
      // Comments an operator keeps in the inventory: drain must leave them alone.
      assert.match(original, /\n( +)- host: rs2\n/);
      const commented = `# day two: operators' notes live in this file\n${original.replace(/\n( +)- host: rs2\n/, '\n$1- host: rs2 # the box with the new disks\n')}`;
      writeFileSync(inv, commented);
      await Promise.all(['rs1', 'rs2'].map((h) => on(h, 'dd if=/dev/zero of=/srv/demo-web/big.bin bs=1M count=8 2>/dev/null')));
      await on(
        'client',
        `rm -f /tmp/dl*.log; for n in 1 2; do setsid sh -c "curl -s --limit-rate 60k -o /dev/null -w '%{http_code} %{size_download}\\n' http://${VIP}/big.bin > /tmp/dl$n.log 2>&1" < /dev/null > /dev/null 2>&1 & sleep 0.3; done`,
      );
      const activeOf = async (rs: string) =>
        Number(new RegExp(`-> ${rs.replace(/\./g, '\\.')} +\\S+ +\\d+ +(\\d+)`).exec(await on('director', 'ipvsadm -Ln'))?.[1] ?? 0);
      await waitFor('a download on rs2', async () => (await activeOf(RS2)) >= 1, 20_000);
      const t0 = Date.now();
      const draining = provision(['drain', inv, 'rs2', '--wait', '--timeout', '300', '--state-dir', o.stateDir], {
        timeoutMs: 600_000,
        signal: stopDrain.signal,
      });
      timings.drainWeight0 = await waitFor('rs2 weight 0 in the table', async () => (await table()).includes(`-r ${RS2} -m -w 0`), 120_000);
      // Drained: new requests only to rs1, while rs2's download goes on.
      const fresh = await on('client', `for i in 1 2 3 4 5 6; do curl -s -m 3 http://${VIP}/ || echo FAIL; echo; done`);
      assert.equal((fresh.match(/Hello from rs1/g) ?? []).length, 6, fresh);
      assert.ok((await activeOf(RS2)) >= 1, 'the download on rs2 still runs after the drain');
      const drain = await draining;
      timings.drainWaitReturned = Date.now() - t0;
      record('drain', drain);
      assert.equal(drain.code, 0, drain.stdout + drain.stderr);
      assert.match(drain.stderr, /drain: 10\.0\.0\.17:80 in web: weight 1 -> 0/);
      assert.match(drain.stderr, new RegExp(`waiting: ${RS2} in -t ${VIP}:80: [1-9]\\d* active`));
      assert.match(drain.stderr, /drain: rs2 has no active connections/);
      assert.equal(await activeOf(RS2), 0);
      await waitFor('both downloads end', async () => (await on('client', 'cat /tmp/dl1.log /tmp/dl2.log')).trim().split('\n').length === 2, 120_000);
      const dl = await on('client', 'cat /tmp/dl1.log /tmp/dl2.log');
      outputs.downloads = dl;
      assert.deepEqual(dl.trim().split('\n'), ['200 8388608', '200 8388608'], 'both downloads completed');
      // The inventory: weight 0, the old weight on the line, every comment intact.
      const drained = readFileSync(inv, 'utf8');
      outputs.inventoryDrained = drained.split('\n').filter((l) => /rs2|weight|#/.test(l));
      assert.match(drained, /^# day two: operators' notes live in this file$/m);
      assert.match(drained, /- host: rs2 # the box with the new disks\n/);
      assert.match(drained, /weight: 0 # provision drain: was 1\n/);
      assert.equal(drained.replace('weight: 0 # provision drain: was 1', 'weight: 1'), commented, 'only the weight line changed');
      assert.match(await on('director', 'cat /etc/mon/mon.cf'), /-R 10\.0\.0\.17:80 -F nat -W 0/);
      const again = await timed('up-after-drain', () => cli(['up', inv, '--json']));
      assert.equal(again.code, 0, again.stderr);
      for (const h of (JSON.parse(again.stdout) as RunReport).hosts)
        assert.equal(h.recap.changed, 0, `${h.host}: ${JSON.stringify(h.tasks.filter((t) => t.status === 'changed'))}`);
      const st2 = await provision(['status', inv]);
      record('status-drained', st2);
      assert.match(st2.stdout, /rs2 +10\.0\.0\.17:80 +weight 0 +up/);
      const undrain = await timed('undrain', () => cli(['undrain', inv, 'rs2']));
      record('undrain', undrain);
      assert.equal(undrain.code, 0, undrain.stdout + undrain.stderr);
      assert.match(await table(), new RegExp(`-r ${RS2} -m -w 1`));
      assert.equal(readFileSync(inv, 'utf8'), commented, 'undrain gives back the inventory as it was');
      const split = await on('client', `for i in 1 2 3 4 5 6; do curl -s -m 3 http://${VIP}/ || echo FAIL; echo; done`);
      assert.equal((split.match(/Hello from rs1/g) ?? []).length, 3, split);
      assert.equal((split.match(/Hello from rs2/g) ?? []).length, 3, split);

      // --- two operators at once
      const spawnUp = (stateDir: string) => {
        const child = spawn(process.execPath, [CLI, 'up', inv, '--state-dir', stateDir], { env: { ...process.env, NO_COLOR: '1' } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (b: Buffer) => {
          stdout += b;
        });
        child.stderr.on('data', (b: Buffer) => {
          stderr += b;
        });
        const done = new Promise<CliResult>((res) => child.on('close', (code, sig) => res({ code: code ?? (sig ? 130 : 1), stdout, stderr })));
        return { child, done };
      };
      const lockedOnDirector = async () => (await sh('director', 'cat /var/lib/provision/lock/owner.json')).code === 0;
      // A run holds the host's lock from its first round trip to its last: seconds for a no-op
      // run. A watcher on the director itself sees the lock within 50 ms of its mkdir; the run is
      // then stopped (SIGSTOP) so it keeps holding it while the second operator tries.
      const watchLock = async () => {
        assert.equal(await lockedOnDirector(), false, 'no run holds the lock yet');
        await on('director', 'rm -f /tmp/lock-watch.ready');
        const seen = sh(
          'director',
          'touch /tmp/lock-watch.ready; i=0; until [ -e /var/lib/provision/lock/owner.json ]; do i=$((i+1)); [ $i -le 1200 ] || exit 1; sleep 0.05; done; echo locked',
        );
        await waitFor('the lock watcher runs', async () => (await sh('director', 'test -e /tmp/lock-watch.ready')).code === 0, 30_000);
        // Wrapped: an async function returning the promise itself would wait for the watcher to end.
        return { seen };
      };
      /** Resolves once the run holds the director's lock; fails with the run's output if it ended first. */
      const lockSeen = async (watcher: Promise<{ code: number; stdout: string; stderr: string }>, run: { done: Promise<CliResult> }) => {
        const r = await Promise.race([watcher.then((w) => ({ w })), run.done.then((d) => ({ d }))]);
        if ('d' in r) assert.fail(`the run ended (exit ${r.d.code}) before its lock on the director was seen:\n${r.d.stdout}\n${r.d.stderr}`);
        const w = await watcher;
        assert.equal(w.stdout.trim(), 'locked', `the watcher did not see the lock (exit ${w.code}): ${w.stderr}`);
      };
      const watcher = await watchLock();
      const first = spawnUp(o.stateDir);
      await lockSeen(watcher.seen, first);
      first.child.kill('SIGSTOP');
      // The same controller's state dir, and a second operator's (another state dir): both refused.
      const [sameDir, otherDir] = await Promise.all([
        cli(['up', inv]),
        provision(['up', inv, '--state-dir', `${o.stateDir}-second-operator`], { timeoutMs: 600_000 }),
      ]);
      first.child.kill('SIGCONT');
      const firstDone = await first.done;
      record('concurrent-first', firstDone);
      record('concurrent-same-state-dir', sameDir);
      record('concurrent-other-controller-dir', otherDir);
      assert.equal(firstDone.code, 0, firstDone.stdout + firstDone.stderr);
      assert.equal(sameDir.code, 1, sameDir.stdout + sameDir.stderr);
      assert.match(sameDir.stderr, /the state dir .* is locked by \S+@\S+ \(pid \d+, up site\) since \d{4}-/);
      assert.equal(otherDir.code, 1, otherDir.stdout + otherDir.stderr);
      assert.match(otherDir.stdout, /director:\/var\/lib\/provision\/lock is locked by \S+@\S+ \(pid \d+, up site\) since \d{4}-/);
      assert.equal(await lockedOnDirector(), false, 'the first run released the host lock');

      // --- Ctrl-C: the journal is closed, the stale locks of the dead run are taken over
      const watcher2 = await watchLock();
      const stopped = spawnUp(o.stateDir);
      await lockSeen(watcher2.seen, stopped);
      stopped.child.kill('SIGINT');
      const stoppedDone = await stopped.done;
      record('ctrl-c', stoppedDone);
      assert.equal(stoppedDone.code, 130, stoppedDone.stderr);
      assert.match(stoppedDone.stderr, /stopped by SIGINT; the journal records what was done/);
      // (Its lock on the director stays unless that host had finished: the next run takes it over.)
      outputs.lockLeftByCtrlC = await lockedOnDirector();
      const after2 = await timed('up-after-ctrl-c', () => cli(['up', inv]));
      record('up-after-ctrl-c', after2);
      assert.equal(after2.code, 0, after2.stdout + after2.stderr);
    } finally {
      writeFileSync(inv, original);
    }
  } finally {
    stopDrain.abort();
    // Whatever failed, the next scenario gets its real servers serving.
    await sh('rs1', '/etc/init.d/demo-web start >/dev/null 2>&1; true').catch(() => {});
    mkdirSync(dirname(o.resultsFile), { recursive: true });
    writeFileSync(o.resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  }
}

/** Reads the inventory text (drain edits it in place). */
export const inventoryText = (file: string) => readFileSync(file, 'utf8');
export const resultsPath = (root: string) => join(root, 'bench/results/e2e-day-two.json');
