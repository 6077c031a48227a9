// provision up/check over real SSH on three container hosts: converge, idempotence, drift,
// check mode changes nothing, one dead host fails alone, host keys are verified.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { labDown, labUp, type LabUpResult } from '../../src/lab/index.js';
import { labHostExec, labStartHost, labStopHost } from '../helpers/lab-control.js';
import { provision } from '../helpers/cli.js';
import type { RunReport } from '../../src/core/types.js';
import { FACTS_SCRIPT, parseFacts } from '../../src/core/facts.js';

const LAB = 'engine-test';
let lab: LabUpResult;
let stateDir: string;

const run = (cmd: 'up' | 'check', extra: string[] = [], inv = lab.inventory) => provision([cmd, inv, 'sample', '--json', '--state-dir', stateDir, ...extra]);
const report = (stdout: string) => JSON.parse(stdout) as RunReport;
const onHost = async (host: string, cmd: string) => {
  const r = await labHostExec(LAB, host, cmd);
  assert.equal(r.code, 0, `${host}: ${cmd}: ${r.stderr}`);
  return r.stdout;
};

before(async () => {
  lab = await labUp({ name: LAB, hosts: 3 });
  stateDir = mkdtempSync(join(tmpdir(), 'provision-state-'));
});
after(async () => {
  await labDown(LAB);
});

test('up converges three real hosts; the files, sysctl and service are really there', async () => {
  const r = await run('up');
  assert.equal(r.code, 0, r.stderr);
  const rep = report(r.stdout);
  assert.deepEqual(rep.hosts.map((h) => h.host).sort(), ['h1', 'h2', 'h3']);
  for (const h of rep.hosts) {
    assert.equal(h.error, undefined);
    assert.equal(h.recap.failed, 0);
    assert.ok(h.recap.changed >= 7, `${h.host} changed ${h.recap.changed}`);
    // connect, facts, probes, one script with every change and the handler's restart
    assert.ok(h.roundTrips <= 4, `${h.host}: ${h.roundTrips} round trips`);
  }
  for (const host of ['h1', 'h2', 'h3']) {
    assert.match(await onHost(host, 'cat /srv/demo-web/index.html'), new RegExp(`Hello from ${host} `));
    assert.equal(await onHost(host, 'stat -c %a /etc/init.d/demo-web'), '755\n');
    assert.equal(await onHost(host, 'cat /proc/sys/net/ipv4/conf/all/send_redirects'), '0\n');
    assert.match(await onHost(host, 'cat /etc/sysctl.d/90-provision-sample.conf'), /^net\.ipv4\.conf\.all\.send_redirects = 0$/m);
    assert.match(await onHost(host, 'ls /etc/rc2.d/'), /S\d\ddemo-web/);
    assert.match(await onHost(host, '/etc/init.d/demo-web status'), /running/);
    assert.match(await onHost(host, 'cat /etc/issue.net'), new RegExp(`^managed-by=provision host=${host}$`, 'm'));
  }
  // The journal holds every change with its before-state.
  const journals = readdirSync(join(stateDir, 'runs'));
  assert.equal(journals.length, 1);
  const j = JSON.parse(readFileSync(join(stateDir, 'runs', journals[0]!), 'utf8'));
  assert.equal(j.status, 'ok');
  assert.ok(j.hosts.h1.changes.length >= 8);
  assert.ok(j.hosts.h1.changes.some((c: { summary: string; undo?: unknown[] }) => /\/etc\/motd/.test(c.summary) && c.undo));
  // ... and is mirrored on each host.
  const mirror = JSON.parse(await onHost('h1', `cat /var/lib/provision/runs/${j.id}.json`));
  assert.equal(mirror.hosts.h1.changes.length, j.hosts.h1.changes.length);
  assert.equal(mirror.hosts.h2, undefined);
});

test('a second up changes nothing, in O(1) round trips per host', async () => {
  const r = await run('up');
  assert.equal(r.code, 0, r.stderr);
  for (const h of report(r.stdout).hosts) {
    assert.equal(h.recap.changed, 0, `${h.host}: ${JSON.stringify(h.tasks.filter((t) => t.status !== 'ok'))}`);
    assert.equal(h.recap.ok, 7);
    // connect, host lock + facts, probes, unlock
    assert.ok(h.roundTrips <= 4, `${h.host}: ${h.roundTrips} round trips`);
  }
});

test('check reports a hand edit as the exact diff, exits 3, and changes nothing', async () => {
  await onHost('h2', "printf 'hand edit\\n' >> /etc/motd");
  const before = await onHost('h2', 'cat /etc/motd; stat -c %a.%U /etc/motd');
  const r = await run(
    'check',
    ['--format', 'text'].filter(() => false),
  );
  assert.equal(r.code, 3, r.stderr);
  const rep = report(r.stdout);
  const h2 = rep.hosts.find((h) => h.host === 'h2')!;
  const changed = h2.tasks.filter((t) => t.status === 'changed');
  assert.deepEqual(
    changed.map((t) => t.task),
    ['motd'],
  );
  assert.match(changed[0]!.changes[0]!.diff ?? '', /^-hand edit$/m);
  for (const h of rep.hosts.filter((x) => x.host !== 'h2')) assert.equal(h.recap.changed, 0);
  assert.equal(await onHost('h2', 'cat /etc/motd; stat -c %a.%U /etc/motd'), before, 'check must not change the host');
  // The text report shows the diff too.
  const text = await provision(['check', lab.inventory, 'sample', '--state-dir', stateDir]);
  assert.equal(text.code, 3);
  assert.match(text.stdout, /h2 \| would change \| motd/);
  assert.match(text.stdout, /-hand edit/);
  // up repairs it, and only it.
  const fix = await run('up');
  assert.equal(fix.code, 0);
  assert.equal(report(fix.stdout).hosts.find((h) => h.host === 'h2')!.recap.changed, 1);
  assert.doesNotMatch(await onHost('h2', 'cat /etc/motd'), /hand edit/);
});

test('markdown runbook lists the planned change with its diff', async () => {
  await onHost('h1', 'echo 1 > /proc/sys/net/ipv4/conf/all/send_redirects');
  const r = await provision(['check', lab.inventory, 'sample', '--format', 'markdown', '--state-dir', stateDir]);
  assert.equal(r.code, 3);
  assert.match(r.stdout, /^# Runbook: sample/m);
  assert.match(r.stdout, /## h1[\s\S]*no ICMP redirects.*will change[\s\S]*set net\.ipv4\.conf\.all\.send_redirects 1 -> 0/);
  assert.equal(await onHost('h1', 'cat /proc/sys/net/ipv4/conf/all/send_redirects'), '1\n');
  assert.equal((await run('up', ['--limit', 'h1'])).code, 0);
  assert.equal(await onHost('h1', 'cat /proc/sys/net/ipv4/conf/all/send_redirects'), '0\n');
});

test('a host whose sshd is stopped fails alone; the others converge', async () => {
  await onHost('h1', 'rm -f /etc/motd');
  await onHost('h3', 'rm -f /etc/motd');
  await labStopHost(LAB, 'h2');
  try {
    const r = await run('up');
    assert.equal(r.code, 1);
    const rep = report(r.stdout);
    const h2 = rep.hosts.find((h) => h.host === 'h2')!;
    assert.match(h2.error ?? '', /h2/);
    assert.match(h2.error ?? '', /refused|unreachable|ECONNREFUSED/i);
    for (const name of ['h1', 'h3']) {
      const h = rep.hosts.find((x) => x.host === name)!;
      assert.equal(h.error, undefined);
      assert.equal(h.recap.changed, 1);
      assert.match(await onHost(name, 'cat /etc/motd'), /managed by provision/);
    }
  } finally {
    await labStartHost(LAB, 'h2');
  }
});

test('an unknown host key is refused; --accept-new-host-keys records it; a changed key is always refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'provision-kh-'));
  const inv = readFileSync(lab.inventory, 'utf8')
    .replace(/ansible_ssh_private_key_file: \.\/id_ed25519/g, `ansible_ssh_private_key_file: ${lab.keyFile}`)
    .replace(/provision_known_hosts_file: .*/, 'provision_known_hosts_file: ./known_hosts');
  writeFileSync(join(dir, 'inventory.yaml'), inv);
  writeFileSync(join(dir, 'known_hosts'), '');
  const refused = await run('check', ['--limit', 'h1'], join(dir, 'inventory.yaml'));
  assert.equal(refused.code, 1);
  assert.match(report(refused.stdout).hosts[0]!.error ?? '', /host key .*not in|unknown host key|not in .*known_hosts/i);
  assert.equal(readFileSync(join(dir, 'known_hosts'), 'utf8'), '', 'nothing recorded without the flag');

  const accepted = await run('check', ['--limit', 'h1', '--accept-new-host-keys'], join(dir, 'inventory.yaml'));
  assert.equal(accepted.code, 0, accepted.stdout);
  const recorded = readFileSync(join(dir, 'known_hosts'), 'utf8');
  assert.match(recorded, /ssh-ed25519 /);
  assert.equal(
    recorded.trim().split(' ').slice(1).join(' '),
    readFileSync(lab.knownHosts, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(lab.hosts[0]!.address + ' '))!
      .split(' ')
      .slice(1)
      .join(' '),
  );

  // Another host's key under h1's name: a changed key, refused even with the flag.
  const h2Line = readFileSync(lab.knownHosts, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(lab.hosts[1]!.address + ' '))!;
  writeFileSync(join(dir, 'known_hosts'), `${lab.hosts[0]!.address} ${h2Line.split(' ').slice(1).join(' ')}\n`);
  const changed = await run('check', ['--limit', 'h1', '--accept-new-host-keys'], join(dir, 'inventory.yaml'));
  assert.equal(changed.code, 1);
  assert.match(report(changed.stdout).hosts[0]!.error ?? '', /changed|mismatch|DIFFERENT/i);
});

test('a non-root user with become runs the tasks as root via sudo', async () => {
  await onHost(
    'h3',
    'install -d -o deploy -g deploy -m 700 /home/deploy/.ssh && cp /root/.ssh/authorized_keys /home/deploy/.ssh/ && chown deploy:deploy /home/deploy/.ssh/authorized_keys',
  );
  await onHost('h3', 'rm -f /etc/motd');
  const dir = mkdtempSync(join(tmpdir(), 'provision-become-'));
  const inv = readFileSync(lab.inventory, 'utf8')
    .replace(/ansible_ssh_private_key_file: \.\/id_ed25519/g, `ansible_ssh_private_key_file: ${lab.keyFile}`)
    .replace(/provision_known_hosts_file: .*/, `provision_known_hosts_file: ${lab.knownHosts}`)
    .replace(/ansible_user: root/g, 'ansible_user: deploy\n          ansible_become: true');
  writeFileSync(join(dir, 'inventory.yaml'), inv);
  const r = await run('up', ['--limit', 'h3'], join(dir, 'inventory.yaml'));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(report(r.stdout).hosts[0]!.recap.changed, 1);
  assert.equal(await onHost('h3', 'stat -c %U:%G /etc/motd'), 'root:root\n');
});

test('--tags runs only tagged tasks; an inventory error exits 2 naming file and line', async () => {
  const r = await run('check', ['--tags', 'web']);
  assert.equal(r.code, 0, r.stdout);
  for (const h of report(r.stdout).hosts) assert.deepEqual(h.tasks.map((t) => t.task).sort(), ['demo-web', 'demo-web init script', 'index page', 'web root']);
  const dir = mkdtempSync(join(tmpdir(), 'provision-badinv-'));
  writeFileSync(join(dir, 'bad.yaml'), 'all:\n  hosts:\n    h1:\n      ansible_port: 99999\n');
  const bad = await provision(['up', join(dir, 'bad.yaml'), 'sample']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad\.yaml:4:\d+: .*ansible_port.*99999/);
});

test("facts read from /proc, /sys and dpkg's status file equal what the commands they replace print on a real host", async () => {
  const f = parseFacts(await onHost('h2', FACTS_SCRIPT.text));
  const said = async (cmd: string) => (await onHost('h2', cmd)).trim();
  assert.equal(f.hostname, await said('hostname'));
  assert.equal(f.kernel.release, await said('uname -r'));
  assert.equal(f.arch, await said('uname -m'));
  assert.equal(f.user, await said('id -un'));
  const links = (await said('ip -o link show'))
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)[^<]*<([^>]*)>/.exec(l)!)
    .map((m) => ({ name: m[1]!, up: m[2]!.split(',').includes('UP') }));
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  assert.deepEqual(f.interfaces.map((i) => ({ name: i.name, up: i.up })).sort(byName), links.sort(byName));
  assert.ok(links.length >= 2, 'lo and eth0 at least');
  // The lab hosts carry ipvsadm from Debian's package: its version as dpkg-query prints it.
  assert.equal(f.ipvsadm.installed, true);
  assert.equal(f.ipvsadm.version, await said("dpkg-query -W -f='${Version}' ipvsadm"));
  assert.match(f.ipvsadm.version ?? '', /^1:1\./);
});
