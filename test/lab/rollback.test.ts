// provision rollback on real hosts: a fingerprint of everything the sample playbook touches is
// byte-identical (content, modes, owners, sysctl, boot links, running service) after up + rollback,
// also after a run that failed half-way; rolling back twice changes nothing; drift is refused
// unless --force.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { labDown, labUp, type LabUpResult } from '../../src/lab/index.js';
import { labHostExec, labStartHost, labState } from '../helpers/lab-control.js';
import type { RunReport } from '../../src/core/types.js';
import { provision } from '../helpers/cli.js';

const LAB = 'rollback-test';
let lab: LabUpResult;
let stateDir: string;
const HOSTS = ['h1', 'h2'];
const PATHS = ['/srv/demo-web', '/srv/demo-web/index.html', '/etc/init.d/demo-web', '/etc/motd', '/etc/issue.net', '/etc/sysctl.d/90-provision-sample.conf'];

/** Every path, mode, owner and content hash the sample playbook touches, plus sysctl, boot links and the service. */
async function fingerprint(host: string): Promise<string> {
  const script = [
    ...PATHS.map(
      (p) =>
        `if [ -e ${p} ]; then printf '%s %s ' ${p} "$(stat -c '%F %a %U:%G' ${p})"; if [ -f ${p} ]; then sha256sum < ${p}; else echo; fi; else echo "${p} absent"; fi`,
    ),
    'echo "send_redirects=$(cat /proc/sys/net/ipv4/conf/all/send_redirects)"',
    'ls /etc/rc*.d | grep demo-web || echo "no demo-web links"',
    '[ -x /etc/init.d/demo-web ] && /etc/init.d/demo-web status || echo "demo-web not running"',
  ].join('\n');
  const r = await labHostExec(LAB, host, script);
  return r.stdout;
}
const fingerprints = async () => Object.fromEntries(await Promise.all(HOSTS.map(async (h) => [h, await fingerprint(h)] as const)));

before(async () => {
  lab = await labUp({ name: LAB, hosts: 2 });
  stateDir = mkdtempSync(join(tmpdir(), 'provision-rb-'));
});
after(async () => {
  await labDown(LAB);
});

test('up then rollback: every fingerprint is identical to before; a second rollback changes nothing', async () => {
  const before0 = await fingerprints();
  const up = await provision(['up', lab.inventory, 'sample', '--state-dir', stateDir]);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const during = await fingerprints();
  for (const h of HOSTS) assert.notEqual(during[h], before0[h]);

  const plan = await provision(['rollback', lab.inventory, '--check', '--state-dir', stateDir]);
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /h1 \| undo \| start service demo-web/);
  assert.match(plan.stdout, /CANNOT UNDO \| restart demo-web/);
  assert.deepEqual(await fingerprints(), during, '--check changes nothing');

  const rb = await provision(['rollback', lab.inventory, '--state-dir', stateDir]);
  assert.equal(rb.code, 0, rb.stdout + rb.stderr);
  assert.deepEqual(await fingerprints(), before0);

  const again = await provision(['rollback', lab.inventory, '--state-dir', stateDir]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already rolled back .*nothing to do/);
  assert.deepEqual(await fingerprints(), before0);

  const runs = await provision(['runs', '--state-dir', stateDir]);
  assert.match(runs.stdout, / up .* ok/);
  assert.match(runs.stdout, / rollback .* ok/);
});

test('a change made after the run is not overwritten unless --force', async () => {
  const before0 = await fingerprints();
  assert.equal((await provision(['up', lab.inventory, 'sample', '--state-dir', stateDir])).code, 0);
  await labHostExec(LAB, 'h2', "echo 'edited by an operator' > /etc/motd");
  const h1Before = await fingerprint('h1');
  const refused = await provision(['rollback', lab.inventory, '--state-dir', stateDir]);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /h2 : .*refusing: \/etc\/motd content changed since run/);
  assert.equal((await labHostExec(LAB, 'h2', 'cat /etc/motd')).stdout, 'edited by an operator\n');
  assert.equal(await fingerprint('h1'), h1Before, 'a refused rollback changes no host at all');
  const forced = await provision(['rollback', lab.inventory, '--force', '--state-dir', stateDir]);
  assert.equal(forced.code, 0, forced.stdout + forced.stderr);
  assert.deepEqual(await fingerprints(), before0);
});

test('a run that failed half-way is rolled back exactly', async () => {
  // /etc/issue.net as a directory makes the lineInFile task fail after several changes were made.
  await labHostExec(LAB, 'h1', 'rm -f /etc/issue.net && mkdir /etc/issue.net');
  const before0 = await fingerprints();
  const up = await provision(['up', lab.inventory, 'sample', '--state-dir', stateDir]);
  assert.equal(up.code, 1);
  assert.match(up.stdout, /h1 \| FAILED \| login banner in \/etc\/issue\.net/);
  assert.notEqual(await fingerprint('h1'), before0.h1);
  const rb = await provision(['rollback', lab.inventory, '--state-dir', stateDir]);
  assert.equal(rb.code, 0, rb.stdout + rb.stderr);
  assert.deepEqual(await fingerprints(), before0);
  await labHostExec(LAB, 'h1', 'rmdir /etc/issue.net');
});

test('rollback runs the handlers its undone changes notified: try-restart, so a stopped service stays stopped', async () => {
  const listening = async (host: string) =>
    (await labHostExec(LAB, host, "ss -Hltn | awk '{print $4}' | grep -oE ':80[0-9]{2}$' | sort | tr '\\n' ' '")).stdout.trim();
  const before0 = await fingerprints();
  // Run A: the web server is installed and started on :8080.
  const a = await provision(['up', lab.inventory, 'sample', '--json', '--state-dir', stateDir]);
  assert.equal(a.code, 0, a.stderr);
  const runA = (JSON.parse(a.stdout) as { id: string }).id;
  assert.equal(await listening('h1'), ':8080');
  // Run B: a new port in the init script; its handler restarts the server on :8081.
  const b = await provision(['up', lab.inventory, 'sample', '-e', 'demo_port=8081', '--state-dir', stateDir]);
  assert.equal(b.code, 0, b.stdout + b.stderr);
  assert.equal(await listening('h1'), ':8081');

  // Rolling back B restores the init script, then restarts the running server: :8080 again.
  const plan = await provision(['rollback', lab.inventory, '--check', '--state-dir', stateDir]);
  assert.match(plan.stdout, /h1 \| then handlers, where needed \| restart demo-web/);
  const rbB = await provision(['rollback', lab.inventory, '--state-dir', stateDir]);
  assert.equal(rbB.code, 0, rbB.stdout + rbB.stderr);
  assert.match(rbB.stderr, /h1 \| handler \| restart demo-web: restart demo-web/);
  assert.match(rbB.stdout, /h1 : undone=1 skipped=1 handlers=1/);
  for (const h of HOSTS) assert.equal(await listening(h), ':8080', `${h} serves the restored config`);

  // Rolling back A (named: the default is the last run, B, already undone) stops the server;
  // its handler must not start it again.
  const rbA = await provision(['rollback', lab.inventory, runA, '--state-dir', stateDir]);
  assert.equal(rbA.code, 0, rbA.stdout + rbA.stderr);
  assert.match(rbA.stderr, /h1 \| handler \| restart demo-web: nothing to do/);
  for (const h of HOSTS) assert.equal(await listening(h), '', `${h}: nothing listens`);
  assert.deepEqual(await fingerprints(), before0);
});

test('a host killed mid-run: its journal holds what was applied (written ahead), and rollback after it boots again restores it exactly', async () => {
  const before0 = await fingerprints();
  const runsDir = join(stateDir, 'runs');
  const known = new Set(readdirSync(runsDir));
  const up = provision(['up', lab.inventory, 'sample', '--json', '--state-dir', stateDir]);
  // Kill h1 (its pid 1: every process of the host dies, sshd and our session with it) once two
  // of its changes are journaled, i.e. in the middle of its run.
  let journal: { hosts: Record<string, { status: string; changes: { summary: string; pending?: boolean }[] }> } | undefined;
  const t0 = Date.now();
  for (;;) {
    assert.ok(Date.now() - t0 < 60_000, 'h1 never reached two changes');
    const file = readdirSync(runsDir).find((n) => n.endsWith('.json') && !known.has(n));
    if (file) {
      try {
        journal = JSON.parse(readFileSync(join(runsDir, file), 'utf8'));
      } catch {
        /* renamed in place; read again */
      }
      if ((journal?.hosts.h1?.changes.length ?? 0) >= 2) break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const st = await labState(LAB);
  process.kill((st.hosts.find((h) => h.name === 'h1')!.driver as { initPid: number }).initPid, 'SIGKILL');
  const r = await up;
  assert.equal(r.code, 1, r.stdout);
  const rep = JSON.parse(r.stdout) as RunReport;
  assert.ok(rep.hosts.find((h) => h.host === 'h1')!.error, 'h1 failed');
  assert.equal(rep.hosts.find((h) => h.host === 'h2')!.recap.failed, 0);

  await labStartHost(LAB, 'h1');
  const plan = await provision(['rollback', lab.inventory, '--check', '--state-dir', stateDir]);
  const h1Items = plan.stdout.split('\n').filter((l) => l.startsWith('  h1 | ') && !l.includes('then handlers'));
  // h1's changes go to it in one script, each journaled pending before it is sent: killed while
  // that script ran, they are all in the journal, and those not confirmed are undone as "may not have happened".
  assert.ok(h1Items.length >= 2, plan.stdout);
  assert.ok(
    h1Items.some((l) => l.includes('may not have happened')),
    plan.stdout,
  );
  const rb = await provision(['rollback', lab.inventory, '--state-dir', stateDir]);
  assert.equal(rb.code, 0, rb.stdout + rb.stderr);
  assert.deepEqual(await fingerprints(), before0);
  // Printed for the record (the TAP log): what h1 had when it died.
  console.log(`h1 killed after: ${h1Items.join(' / ')}`);
});
