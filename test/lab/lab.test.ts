// The container lab, end to end: real namespaces, real sshd, real ssh client with
// strict host key checking. Needs root, mmdebstrap (first run builds the image).
import { execFile } from 'node:child_process';
import { readFile, stat, access } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import yaml from 'js-yaml';
import { labDown, labStatus, labUp, LabError, type LabState, type LabUpResult } from '../../src/lab/index.js';
import { labHostExec, labList, labStartHost, labState, labStopHost } from '../helpers/lab-control.js';
import { labShortId, names } from '../../src/lab/container.js';
import { renderInventory, renderKnownHosts } from '../../src/lab/inventory.js';
import { rm } from 'node:fs/promises';

const LAB = 'lab-selftest';

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: string[], timeout = 20_000): Promise<Out> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

let lab: LabUpResult;
let state: LabState;

function ssh(user: string, host: string, command: string, knownHosts = lab.knownHosts): Promise<Out> {
  const address = lab.hosts.find((h) => h.name === host)?.address;
  assert.ok(address, `no host ${host}`);
  return sh('ssh', [
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-i',
    lab.keyFile,
    `${user}@${address}`,
    command,
  ]);
}

const running = (pid: number) =>
  readFile(`/proc/${pid}/stat`, 'utf8').then(
    (s) => !/^\d+ \(.*\) [ZX] /.test(s),
    () => false,
  );

before(async () => {
  // A first, smaller lab under the same name: the second up must replace it, not collide with it.
  await labUp({ name: LAB, hosts: 1 });
  const first = await labState(LAB);
  lab = await labUp({
    name: LAB,
    hosts: [
      { name: 'h1', groups: ['web', 'directors'] },
      { name: 'h2', groups: ['web'] },
      { name: 'h3', groups: ['db'], vars: { role: 'database', weight: 3 } },
    ],
  });
  state = await labState(LAB);
  const firstInit = (first.hosts[0]!.driver as { initPid: number }).initPid;
  assert.equal(await running(firstInit), false, 'the replaced lab host still runs');
});

after(async () => {
  // Only matters if a test failed before the down test ran.
  await labDown(LAB).catch(() => {});
});

test('labList names the lab', async () => {
  assert.ok((await labList()).includes(LAB));
});

test('up reports every host with a lab address and timings', () => {
  assert.deepEqual(
    lab.hosts.map((h) => h.name),
    ['h1', 'h2', 'h3'],
  );
  for (const h of lab.hosts) assert.match(h.address, /^10\.213\.\d{1,3}\.\d{1,3}$/);
  assert.equal(new Set(lab.hosts.map((h) => h.address)).size, 3);
  assert.ok(lab.timings.total! > 0 && lab.timings.sshReady! >= 0);
});

test('inventory, known_hosts and key are written for the lab', async () => {
  const inv = yaml.load(await readFile(lab.inventory, 'utf8')) as {
    all: { children: Record<string, { hosts: Record<string, Record<string, unknown>> }>; vars: Record<string, unknown> };
  };
  assert.deepEqual(Object.keys(inv.all.children).sort(), ['db', 'directors', 'web']);
  assert.deepEqual(Object.keys(inv.all.children.web!.hosts).sort(), ['h1', 'h2']);
  const h1 = inv.all.children.directors!.hosts.h1!;
  assert.equal(h1.ansible_host, lab.hosts[0]!.address);
  assert.equal(h1.ansible_user, 'root');
  assert.equal(h1.ansible_port, 22);
  assert.equal(h1.ansible_ssh_private_key_file, './id_ed25519');
  assert.deepEqual(inv.all.children.web!.hosts.h1, h1, 'a host in two groups has the same vars in both');
  assert.equal(inv.all.children.db!.hosts.h3!.role, 'database');
  assert.equal(inv.all.vars.provision_known_hosts_file, './known_hosts');

  const kh = (await readFile(lab.knownHosts, 'utf8')).trim().split('\n');
  assert.equal(kh.length, 3);
  for (const [i, line] of kh.entries()) assert.match(line, new RegExp(`^${lab.hosts[i]!.address.replace(/\./g, '\\.')} ssh-ed25519 AAAA`));
  assert.equal(new Set(kh.map((l) => l.split(' ')[2])).size, 3, 'every host has its own host key');
  assert.equal((await stat(lab.keyFile)).mode & 0o777, 0o600);
});

test('each host answers real ssh with strict host key checking, under its own hostname', async () => {
  const outs = await Promise.all(lab.hosts.map((h) => ssh('root', h.name, 'hostname')));
  assert.deepEqual(
    outs.map((o) => [o.code, o.stdout.trim()]),
    [
      [0, 'h1'],
      [0, 'h2'],
      [0, 'h3'],
    ],
  );
});

test('a host presenting another host key is rejected', async () => {
  // known_hosts that pins h2's key on h1's address.
  const h1 = lab.hosts[0]!.address;
  const wrong = join(lab.dir, 'wrong_known_hosts');
  const h2Key = state.hosts[1]!.hostKey;
  await import('node:fs/promises').then((fs) => fs.writeFile(wrong, `${h1} ${h2Key}\n`));
  const out = await ssh('root', 'h1', 'true', wrong);
  assert.equal(out.code, 255);
  assert.match(out.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
});

test('a file written on h1 is not visible on h2 nor on the machine', async () => {
  const marker = `/root/lab-marker-${process.pid}`;
  assert.equal((await ssh('root', 'h1', `echo from-h1 > ${marker}`)).code, 0);
  assert.equal((await labHostExec(LAB, 'h1', `cat ${marker}`)).stdout, 'from-h1\n');
  assert.equal((await labHostExec(LAB, 'h2', `test -e ${marker}`)).code, 1);
  assert.equal((await ssh('root', 'h2', `test -e ${marker}`)).code, 1);
  await assert.rejects(access(marker), 'the write leaked to the machine');
  await assert.rejects(access(join(state.image.rootfs, marker)), 'the write leaked into the shared image');
  await access(join(state.hosts[0]!.dir, 'upper', marker)); // it landed in h1's overlay upper dir
});

test('net sysctls are per host; the kernel-wide ones are read-only', async () => {
  const machineBefore = await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8');
  const set = await ssh('root', 'h1', 'sysctl -w net.ipv4.ip_forward=1 && cat /proc/sys/net/ipv4/ip_forward');
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout.trim().split('\n').pop(), '1');
  assert.equal((await ssh('root', 'h2', 'cat /proc/sys/net/ipv4/ip_forward')).stdout.trim(), '0');
  assert.equal(await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8'), machineBefore);
  const vm = await ssh('root', 'h1', 'echo 10 > /proc/sys/vm/swappiness');
  assert.notEqual(vm.code, 0, 'a lab host could change the real kernel');
  assert.match(vm.stderr, /Read-only file system/);
});

test('user deploy logs in and can sudo without a password', async () => {
  const out = await ssh('deploy', 'h3', 'id -un && sudo -n true && sudo -n id -u');
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(out.stdout.trim().split('\n'), ['deploy', '0']);
});

test('labHostExec runs inside the host namespaces without ssh', async () => {
  const out = await labHostExec(LAB, 'h2', 'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; ip -o -4 addr show eth0');
  assert.equal(out.code, 0, out.stderr);
  const [name, init, addr] = out.stdout.trim().split('\n');
  assert.equal(name, 'h2');
  assert.match(init!, /lab-init/);
  assert.ok(addr!.includes(`${lab.hosts[1]!.address}/24`));
  assert.equal((await labHostExec(LAB, 'h2', 'exit 7')).code, 7);
  await assert.rejects(labHostExec(LAB, 'nope', 'true'), LabError);
});

test('labStopHost takes sshd away from that host only; labStartHost brings it back', async () => {
  await labStopHost(LAB, 'h2');
  const [h1, h2, h3] = await Promise.all(['h1', 'h2', 'h3'].map((h) => ssh('root', h, 'hostname')));
  assert.equal(h2!.code, 255);
  assert.match(h2!.stderr, /Connection refused/);
  assert.equal(h1!.code, 0);
  assert.equal(h3!.code, 0);
  const status = await labStatus(LAB);
  assert.deepEqual(
    status.hosts.map((h) => [h.name, h.running, h.sshd]),
    [
      ['h1', true, true],
      ['h2', true, false],
      ['h3', true, true],
    ],
  );
  // The host itself lives on: files and namespaces are intact.
  assert.equal((await labHostExec(LAB, 'h2', 'hostname')).stdout.trim(), 'h2');

  await labStartHost(LAB, 'h2');
  assert.equal((await ssh('root', 'h2', 'hostname')).stdout.trim(), 'h2');
});

test('a host whose pid 1 died is reported down and can be started again', async () => {
  const init = (state.hosts[2]!.driver as { initPid: number }).initPid;
  process.kill(init, 'SIGKILL');
  const deadline = Date.now() + 5000;
  while ((await running(init)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const st = await labStatus(LAB);
  assert.deepEqual(
    st.hosts.find((h) => h.name === 'h3'),
    { name: 'h3', address: lab.hosts[2]!.address, running: false, sshd: false },
  );
  await labStartHost(LAB, 'h3');
  const out = await ssh('deploy', 'h3', 'hostname');
  assert.equal(out.stdout.trim(), 'h3', out.stderr);
  state = await labState(LAB);
});

test('sshd logs per host land in <dir>/<host>/sshd.log', async () => {
  const log = await readFile(join(lab.dir, 'h1', 'sshd.log'), 'utf8');
  assert.match(log, /Server listening on 0\.0\.0\.0 port 22/);
  assert.match(log, /Accepted publickey for root/);
});

test('invalid specs fail before anything is created', async () => {
  await assert.rejects(labUp({ name: `${LAB}-bad`, hosts: [{ name: 'Bad_Name', groups: [] }] }), LabError);
  await assert.rejects(labUp({ name: '../escape', hosts: 1 }), LabError);
  await assert.rejects(access(join(lab.dir, '..', `${LAB}-bad`, 'state.json')));
});

test('down leaves no namespace, link, mount, process or directory behind', async () => {
  const n = names(labShortId(lab.dir));
  const pids = state.resources.pids;
  assert.ok(pids.length >= 6);
  await labDown(LAB);

  const netns = (await sh('ip', ['netns', 'list'])).stdout;
  assert.ok(!netns.includes(n.prefix), `namespaces left: ${netns}`);
  const links = (await sh('ip', ['-o', 'link'])).stdout;
  assert.ok(!links.includes(n.uplink), `uplink left: ${links}`);
  const mounts = (await sh('mount', [])).stdout;
  assert.ok(!mounts.includes(lab.dir), `mounts left: ${mounts}`);
  const ps = (await sh('ps', ['-eo', 'pid,stat,args'])).stdout.split('\n').filter((l) => !/^\s*\d+\s+Z/.test(l));
  assert.deepEqual(
    ps.filter((l) => l.includes(lab.dir)),
    [],
  );
  for (const pid of pids) assert.equal(await running(pid), false, `pid ${pid} survived`);
  await assert.rejects(access(lab.dir));
  const st = await labStatus(LAB);
  assert.equal(st.exists, false);
  await labDown(LAB); // idempotent
});

test('renderInventory puts ungrouped hosts under all.hosts and ports != 22 in brackets', () => {
  assert.equal(state.driver, 'container');
  if (state.driver !== 'container') return;
  const fake: LabState = {
    ...state,
    hosts: [{ ...state.hosts[0]!, name: 'solo', groups: [], port: 2222, address: '10.213.9.11', hostKey: 'ssh-ed25519 AAAAX' }],
  };
  const inv = yaml.load(renderInventory(fake)) as { all: { hosts: Record<string, Record<string, unknown>>; children?: unknown } };
  assert.equal(inv.all.hosts.solo!.ansible_port, 2222);
  assert.equal(inv.all.children, undefined);
  assert.equal(renderKnownHosts(fake), '[10.213.9.11]:2222 ssh-ed25519 AAAAX\n');
});

test('down cleans up a lab whose state.json was lost (controller crashed early)', async () => {
  const name = `${LAB}-crash`;
  const crashed = await labUp({ name, hosts: 2 });
  const st = await labState(name);
  await rm(join(crashed.dir, 'state.json'));
  await labDown(name);
  const prefix = names(labShortId(crashed.dir)).prefix;
  assert.ok(!(await sh('ip', ['netns', 'list'])).stdout.includes(prefix));
  for (const h of st.hosts) assert.equal(await running((h.driver as { initPid: number }).initPid), false);
  await assert.rejects(access(crashed.dir));
});
