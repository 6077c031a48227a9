// What the renders promise on each target, item by item (the golden files keep the whole text):
// pinned artifacts, mon's place per packaging, noarp built as the seed did, arptables that survive
// a reboot, ipvsadm never saving over the boot rules, modules before their sysctls at boot, final
// contents of files several tasks write, and facts fixtures in the facts script's format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { HostRender } from '../../src/core/offline.js';
import { blankWithFiles, probedFiles } from '../../src/core/offline.js';
import { loadFactsFixture } from '../../src/core/facts-fixture.js';
import { sysctlProbe } from '../../src/modules/sysctl.js';
import { fileProbe } from '../../src/modules/file.js';
import { persistTarget, planKernelModule } from '../../src/modules/kernel-module.js';
import { CASES, MON_STANDIN, ROOT, renderCase, rendered, type RenderCase } from './helpers/renders.js';

const byName = (n: string) => CASES.find((c) => c.name === n)!;
const hostsOf = async (n: string) => (await rendered(byName(n))).hosts;
const fileOf = (h: HostRender, path: string) => {
  const f = h.files.filter((x) => x.path === path);
  assert.equal(f.length, 1, `${path}: ${f.length} entries among ${h.files.map((x) => x.path).join(', ')}`);
  return f[0]!.content.toString('utf8');
};
const withVars = (c: RenderCase, host: string, vars: Record<string, unknown>): RenderCase => ({
  ...c,
  vars: { ...c.vars, [host]: { ...c.vars?.[host], ...vars } },
});

test('artifacts: a wrong sha256 or a missing file stops the host before any change', async () => {
  const seed = byName('seed');
  const bad = await renderCase(
    withVars(seed, 'director', { ipvsadm_source: { path: 'inventory/artifacts/ipvsadm-1.24-6.STANDIN.src.rpm', sha256: '0'.repeat(64), kind: 'srpm' } }),
  );
  assert.match(
    bad.hosts.director!.report.error ?? '',
    /ipvsadm_source: inventory\/artifacts\/ipvsadm-1\.24-6\.STANDIN\.src\.rpm has sha256 b1ef0852.*, the inventory pins 0{64}/,
  );
  assert.deepEqual([bad.hosts.director!.report.tasks.length, bad.hosts.director!.files.length, bad.hosts.director!.commands.length], [0, 0, 0]);
  const missing = await renderCase(
    withVars(seed, 'rs1', { noarp_source: { path: 'inventory/artifacts/noarp-9.tar.gz', sha256: 'a'.repeat(64), kind: 'tarball' } }),
  );
  assert.match(
    missing.hosts.rs1!.report.error ?? '',
    /noarp_source: artifact inventory\/artifacts\/noarp-9\.tar\.gz not readable on the controller \(ENOENT\)/,
  );
  const unpinned = await renderCase(
    withVars(seed, 'director', { mon_packages: [{ name: 'perl-Mon', rpm: 'inventory/artifacts/perl-Mon-0.11-2.2.el4.rf.noarch.STANDIN.rpm' }] }),
  );
  assert.match(unpinned.hosts.director!.report.error ?? '', /mon_packages\[0\] \(perl-Mon\): a pushed package needs sha256/);
});

test('seed director: ipvsadm rebuilt from its src.rpm, mon copied from its tarball, perl modules pushed as rpms', async () => {
  const d = (await hostsOf('seed')).director!;
  const cmds = d.commands.join('\n');
  assert.match(cmds, /upload <?.*inventory\/artifacts\/ipvsadm-1\.24-6\.STANDIN\.src\.rpm -> /);
  assert.match(cmds, /rpmbuild --rebuild --define "_topdir \$TOPDIR" "\$SRPM"/);
  assert.match(cmds, /rpm -Uvh \$pk/);
  for (const p of ['perl-Time-HiRes', 'perl-Time-Period', 'perl-Convert-BER', 'perl-Net-Telnet', 'perl-Mon', 'fping']) {
    assert.match(cmds, new RegExp(`upload .*inventory/artifacts/${p}-[^ ]*\\.STANDIN\\.rpm -> /tmp/provision-[0-9a-f]{16}\\.rpm`));
  }
  assert.match(cmds, /cp -r alert\.d mon\.d mon "\$STAGE\/usr\/lib\/mon\/"/);
  assert.doesNotMatch(cmds, /yum -y install/, 'nothing from repositories: the seed hosts have none');
});

test('mon where each packaging puts it: mon.cf dirs and the init script finds every layout', async () => {
  const want: Record<string, string> = {
    seed: '/usr/lib/mon',
    'centos-4.5': '/usr/lib/mon',
    'centos-5': '/usr/lib64/mon',
    'rocky-9': '/usr/lib/mon',
    'debian-12': '/usr/lib/mon',
    'ubuntu-24.04': '/usr/lib/mon',
  };
  for (const [name, dir] of Object.entries(want)) {
    const d = (await hostsOf(name)).director!;
    const cf = fileOf(d, '/etc/mon/mon.cf');
    assert.match(cf, new RegExp(`^alertdir = ${dir}/alert\\.d$`, 'm'), name);
    assert.match(cf, new RegExp(`^mondir = ${dir}/mon\\.d$`, 'm'), name);
    assert.ok(
      d.files.some((f) => f.path === `${dir}/alert.d/lvs.alert`),
      `${name}: lvs.alert in ${dir}/alert.d`,
    );
  }
  const init = fileOf((await hostsOf('seed')).director!, '/etc/init.d/mon');
  assert.match(init, /^for m in \/usr\/lib\/mon\/mon \/usr\/bin\/mon \/usr\/sbin\/mon; do$/m);
  assert.match(fileOf((await hostsOf('centos-5')).director!, '/etc/init.d/mon'), /^for m in \/usr\/bin\/mon \/usr\/lib\/mon\/mon \/usr\/sbin\/mon; do$/m);
  // Debian keeps its packaged unit, with the capability drop-in; no init script of ours.
  const deb = (await hostsOf('debian-12')).director!;
  assert.ok(!deb.files.some((f) => f.path === '/etc/init.d/mon'));
  assert.match(fileOf(deb, '/etc/systemd/system/mon.service.d/provision-lvs.conf'), /AmbientCapabilities=CAP_NET_ADMIN/);
});

test('EL 9 without pushed mon packages: a clear error naming the way out, nothing planned', async () => {
  const r = await renderCase({ ...byName('rocky-9'), vars: {} });
  const d = r.hosts.director!;
  assert.match(
    d.report.error ?? '',
    /Rocky Linux 9\.4 \(Blue Onyx\): neither its repositories nor EPEL 8\/9 have mon or perl-Mon; set mon_packages .* and\/or mon_source .*, or use health\.monitor: keepalived/,
  );
  assert.deepEqual([d.files.length, d.commands.length], [0, 0]);
  assert.equal(
    (await renderCase(withVars(byName('rocky-9'), 'director', { mon_source: MON_STANDIN, mon_packages: [] }))).hosts.director!.report.recap.failed,
    0,
  );
});

test('noarp as the seed built it: kernel tree configured for the running kernel, make, depmod -a, loaded and restored at boot', async () => {
  const rs = (await hostsOf('seed')).rs1!;
  const cmds = rs.commands.join('\n');
  for (const re of [
    /cfg=\/boot\/config-\$kver/,
    /make EXTRAVERSION="\$extra" oldconfig/,
    /2\.4\.\*\) make EXTRAVERSION="\$extra" dep/,
    /ln -s "\$K" "\$L"/,
    /\.\/configure && make/,
    /make install DESTDIR="\$STAGE"/,
  ])
    assert.match(cmds, re);
  const order = ['make install DESTDIR', 'depmod -a', 'modprobe noarp', '/usr/local/sbin/noarpctl add 192.168.0.218 192.168.0.216'].map((s) => cmds.indexOf(s));
  assert.ok(
    order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]!)),
    `order: ${order.join(' ')}`,
  );
  assert.match(fileOf(rs, '/etc/rc.modules'), /^\/sbin\/modprobe noarp\n\/sbin\/modprobe ipip$/m);
  const boot = fileOf(rs, '/usr/local/sbin/lvs-realserver');
  assert.ok(boot.indexOf('modprobe noarp') < boot.indexOf('noarpctl add 192.168.0.218 192.168.0.216'));
  const noarpTask = rs.report.tasks.find((t) => t.task === 'noarp: hide 192.168.0.218')!;
  assert.doesNotMatch(noarpTask.changes[0]!.summary, /no undo/);
});

test('arptables instead of noarp: rules re-added by the boot script, nothing ignored, undoable', async () => {
  const seed = byName('seed');
  const r = await renderCase(withVars(seed, 'rs1', { noarp_source: null, arp_method: 'arptables' }));
  const rs = r.hosts.rs1!;
  assert.equal(rs.report.recap.failed, 0, rs.report.error);
  const cmds = rs.commands.join('\n');
  assert.match(cmds, /arptables -A IN -d 192\.168\.0\.218 -j DROP && arptables -A OUT -s 192\.168\.0\.218 -j mangle --mangle-ip-s 192\.168\.0\.216/);
  assert.doesNotMatch(cmds, /\|\| true/);
  const boot = fileOf(rs, '/usr/local/sbin/lvs-realserver');
  assert.match(
    boot,
    /if ! arptables -L -n 2>\/dev\/null \| grep -q -- "192\.168\.0\.218"; then\n\s+arptables -A IN -d 192\.168\.0\.218 -j DROP && arptables -A OUT -s 192\.168\.0\.218 -j mangle --mangle-ip-s 192\.168\.0\.216 \|\| exit 1/,
  );
  const t = rs.report.tasks.find((x) => x.task.startsWith('arptables'))!;
  assert.equal(t.changes[0]!.summary, 'run arptables: drop ARP for 192.168.0.218');
});

test('ipvsadm never saves the live table over the boot rules: systemd drop-in, SysV ipvsadm-config', async () => {
  const rocky = (await hostsOf('rocky-9')).director!;
  const dropin = fileOf(rocky, '/etc/systemd/system/ipvsadm.service.d/provision-no-save.conf');
  const lines = dropin.split('\n').filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(lines, ['[Service]', 'ExecStop=', 'ExecStop=/sbin/ipvsadm -C']);
  assert.doesNotMatch(lines.join('\n'), /ipvsadm-save/);
  assert.ok(
    rocky.report.tasks.some((t) => t.task === 'systemctl daemon-reload'),
    'daemon-reload after the drop-in',
  );
  for (const n of ['seed', 'centos-5']) {
    assert.equal(fileOf((await hostsOf(n)).director!, '/etc/sysconfig/ipvsadm-config'), 'IPVSADM_SAVE_ON_STOP="no"\nIPVSADM_SAVE_ON_RESTART="no"\n', n);
  }
  const deb = (await hostsOf('debian-12')).director!;
  assert.ok(!deb.files.some((f) => /ipvsadm-config|ipvsadm\.service\.d/.test(f.path)), 'Debian has no autosave');
});

test('boot order: EL 3/4 load modules from /etc/rc.modules, EL 5 from /etc/sysconfig/modules; ip_vs before its sysctls', async () => {
  const seed = (await hostsOf('seed')).director!;
  assert.match(fileOf(seed, '/etc/rc.modules'), /^#!\/bin\/sh\n(#.*\n)*\/sbin\/modprobe ip_vs\n\/sbin\/modprobe ip_vs_rr\n$/);
  assert.ok(!seed.files.some((f) => f.path.startsWith('/etc/sysconfig/modules/')), 'EL 4 never reads /etc/sysconfig/modules');
  assert.match(fileOf((await hostsOf('centos-5')).director!, '/etc/sysconfig/modules/ip_vs.modules'), /modprobe ip_vs/);
  for (const c of CASES.filter((x) => x.name !== 'rhel-as-3')) {
    const boot = fileOf((await rendered(c)).hosts.director!, '/usr/local/sbin/lvs-director');
    const mod = boot.indexOf('if modprobe ip_vs; then');
    const sc = boot.indexOf('sysctl -w net.ipv4.vs.expire_nodest_conn=1');
    assert.ok(mod >= 0 && sc > mod, `${c.name}: modprobe ip_vs (${mod}) before the vs sysctl (${sc})`);
  }
});

test('a file several tasks write is rendered with its final content', async () => {
  const deb = (await hostsOf('debian-12')).rs1!;
  assert.equal(
    fileOf(deb, '/etc/sysctl.d/90-lvs.conf'),
    [
      'net.ipv4.ip_forward = 0',
      'net.ipv4.conf.all.arp_ignore = 1',
      'net.ipv4.conf.all.arp_announce = 2',
      'net.ipv4.conf.all.rp_filter = 0',
      'net.ipv4.conf.tunl0.rp_filter = 0',
      '',
    ].join('\n'),
  );
  // The later task plans an edit of what the earlier one wrote (not a second "create").
  const t = deb.report.tasks.find((x) => x.task === 'announce the real IP, never the VIP')!;
  assert.match(t.changes.at(-1)!.summary, /^persist net\.ipv4\.conf\.all\.arp_announce = 2 in \/etc\/sysctl\.d\/90-lvs\.conf/);
});

test('offline file state: probes see files earlier tasks wrote, quoted paths included', () => {
  const p = sysctlProbe('net.ipv4.ip_forward', "/etc/it's.conf");
  assert.deepEqual(probedFiles(p.script.text), [{ path: "/etc/it's.conf", prefix: 'persist.' }]);
  const fs = new Map([["/etc/it's.conf", { content: Buffer.from('a = 1\n'), mode: '0644' }]]);
  const state = p.parse({ stdout: blankWithFiles(p.script.text, p.blank!, fs), code: 0 });
  assert.equal(state.file?.type, 'file');
  assert.equal(state.file?.content?.toString(), 'a = 1\n');
  const plain = fileProbe('file', '/etc/x');
  assert.equal(blankWithFiles(plain.script.text, plain.blank!, new Map()), 'type=absent');
});

test('facts fixtures are the facts script output of each release and parse as such', () => {
  const want: Record<string, [string, string, string, string, boolean]> = {
    'seed-legacy': ['redhat', 'sysv', 'yum', '4.5', true],
    'centos-4.5': ['redhat', 'sysv', 'yum', '4.5', true],
    'rhel-as-3': ['redhat', 'sysv', 'up2date', '3', false],
    'centos-5': ['redhat', 'sysv', 'yum', '5.11', true],
    'rocky-9': ['redhat', 'systemd', 'dnf', '9.4', true],
    'debian-12': ['debian', 'systemd', 'apt', '12', true],
    'ubuntu-24.04': ['debian', 'systemd', 'apt', '24.04', true],
  };
  for (const [name, [family, init, pm, version, arp]] of Object.entries(want)) {
    const d = loadFactsFixture(join(ROOT, 'test/fixtures/facts', `${name}.yaml`)).director!;
    assert.deepEqual([d.os.family, d.init, d.packageManager, d.os.version, d.arpSysctls], [family, init, pm, version, arp], name);
  }
  const rs = loadFactsFixture(join(ROOT, 'test/fixtures/facts/seed-legacy.yaml')).rs1!;
  assert.deepEqual([rs.kernel.release, rs.kernel.major, rs.kernel.minor, rs.arpSysctls, rs.packageManager], ['2.4.21-37.EL', 2, 4, false, 'up2date']);
  assert.deepEqual(
    rs.interfaces.map((i) => i.name),
    ['lo', 'eth0'],
  );
});

test("/etc/rc.modules on EL 3/4: a line added to the admin's script (mode kept, exact undo), nothing when present", () => {
  const el3 = loadFactsFixture(join(ROOT, 'test/fixtures/facts/rhel-as-3.yaml')).rs1!;
  const t = persistTarget('noarp', el3);
  assert.deepEqual(t, { kind: 'rc-modules', path: '/etc/rc.modules' });
  assert.equal(persistTarget('ip_vs', loadFactsFixture(join(ROOT, 'test/fixtures/facts/centos-5.yaml')).director!).kind, 'sysconfig-modules');
  const existing = Buffer.from('#!/bin/sh\n/sbin/modprobe e1000\n');
  const state = { loaded: true, builtin: false, persistFile: { path: '/etc/rc.modules', type: 'file' as const, mode: '0750', content: existing } };
  const [c] = planKernelModule('noarp', t, state);
  assert.equal(c!.writes!.content.toString(), '#!/bin/sh\n/sbin/modprobe e1000\n/sbin/modprobe noarp\n');
  assert.equal(c!.writes!.mode, '0750', "the admin's mode is kept");
  assert.ok(c!.undo && c!.undo.length > 0);
  assert.deepEqual(planKernelModule('noarp', t, { ...state, persistFile: { ...state.persistFile, content: Buffer.from('modprobe noarp\n') } }), []);
});

test('offline, a director whose facts say its kernel has no IPVS (RHEL AS 3) fails at the IPVS check, as the host would', async () => {
  // mon pushed from the tarball (no rpms), so the director gets past mon and reaches the IPVS check.
  const r = await renderCase(withVars(byName('rhel-as-3'), 'director', { mon_source: MON_STANDIN, mon_packages: [] }));
  const failed = r.hosts.director!.report.tasks.filter((t) => t.status === 'failed');
  assert.deepEqual(
    failed.map((t) => t.task),
    ['IPVS in the kernel'],
  );
  assert.match(failed[0]!.error ?? '', /the kernel has no IPVS/);
  // Debian 12's facts (ip_vs available): the same check passes offline.
  const ok = await renderCase(byName('debian-12'));
  assert.equal(ok.hosts.director!.report.tasks.find((t) => t.task === 'IPVS in the kernel')?.status, 'ok');
});
