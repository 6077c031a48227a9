import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { FACTS_SCRIPT, parseFacts } from '../../src/core/facts.js';

test('facts of this (Debian 12) machine, gathered by the real script', () => {
  const f = parseFacts(execFileSync('/bin/sh', ['-c', FACTS_SCRIPT.text], { encoding: 'utf8' }));
  assert.equal(f.os.family, 'debian');
  assert.equal(f.os.id, 'debian');
  assert.equal(f.packageManager, 'apt');
  assert.equal(f.packageDb, 'dpkg');
  assert.ok(f.kernel.major >= 4, `kernel ${f.kernel.release}`);
  assert.ok(f.interfaces.some((i) => i.name === 'lo' && i.ipv4.includes('127.0.0.1/8')));
  assert.equal(f.user, 'root');
});

test('legacy EL facts (CentOS 4.5-like) parse to sysv/yum/rpm and a 2.6 kernel', () => {
  const f = parseFacts(
    [
      'hostname=director',
      'kernel=2.6.9-55.EL',
      'arch=i686',
      'user=root',
      'os_id=redhat',
      'os_like=rhel',
      'os_pretty=CentOS release 4.5 (Final)',
      'os_version=4.5',
      'init=sysv',
      'pkgmgr=yum',
      'pkgdb=rpm',
      'arp_sysctls=1',
      'ipvs_kernel=1',
      'ipvsadm=0',
      'link=eth0 BROADCAST,MULTICAST,UP',
      'addr=eth0 192.168.0.215/32',
      'addr=eth0:1 192.168.0.218/32',
      'defroute=eth0',
    ].join('\n'),
  );
  assert.equal(f.os.family, 'redhat');
  assert.equal(f.init, 'sysv');
  assert.equal(f.packageManager, 'yum');
  assert.equal(f.packageDb, 'rpm');
  assert.deepEqual([f.kernel.major, f.kernel.minor], [2, 6]);
  assert.deepEqual(f.interfaces, [{ name: 'eth0', ipv4: ['192.168.0.215/32', '192.168.0.218/32'], up: true }]);
  assert.equal(f.defaultInterface, 'eth0');
  assert.equal(f.ipvsadm.installed, false);
});

test('facts read from /proc and /sys on this machine equal what the commands they replace print', () => {
  const run = (cmd: string) => execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' }).trim();
  const f = parseFacts(execFileSync('/bin/sh', ['-c', FACTS_SCRIPT.text], { encoding: 'utf8' }));
  assert.equal(f.hostname, run('hostname'));
  assert.equal(f.kernel.release, run('uname -r'));
  assert.equal(f.arch, run('uname -m'));
  assert.equal(f.user, run('id -un'));
  // ip -o link show: "N: name[@peer]: <FLAGS> ..."; UP is the administrative flag.
  const links = run('ip -o link show')
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)[^<]*<([^>]*)>/.exec(l)!)
    .map((m) => ({ name: m[1]!, up: m[2]!.split(',').includes('UP') }))
    .sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(
    f.interfaces.map((i) => ({ name: i.name, up: i.up })).sort((a, b) => a.name.localeCompare(b.name)),
    links,
  );
  const dev = /\bdev (\S+)/.exec(run('ip -4 route show default | head -n 1'))?.[1] ?? null;
  assert.equal(f.defaultInterface, dev);
  const ipvsadm = run('command -v ipvsadm || true') !== '';
  assert.equal(f.ipvsadm.installed, ipvsadm);
  if (ipvsadm) assert.equal(f.ipvsadm.version, run("dpkg-query -W -f='${Version}' ipvsadm") || null);
});
