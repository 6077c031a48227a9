import type { Script } from '../../../src/core/shell.js';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadLocalPackage, pkg, pkgProbe, planPkg, versionMatches } from '../../../src/modules/pkg.js';
import { parseRpmHeader } from '../../../src/modules/package-meta.js';
import { ModuleError } from '../../../src/modules/errors.js';
import { runProbe, tempDir, testContext } from '../helpers/local-host.js';

const scriptOf = (s: unknown): string => (s as { script: Script }).script.text;

describe('pkg probe parsing', () => {
  it('dpkg: only "installed" status lines count (config-files is not installed)', () => {
    const p = pkgProbe('ipvsadm', 'dpkg');
    assert.match(p.script.text, /dpkg-query -W -f='\$\{Status\} \$\{Version\}\\n' ipvsadm/);
    assert.deepEqual(p.parse({ code: 0, stdout: 'dpkg=install ok installed 1:1.31-1\ndone=1\n' }).installed, ['1:1.31-1']);
    assert.deepEqual(p.parse({ code: 0, stdout: 'dpkg=deinstall ok config-files 1.26-1\ndone=1\n' }).installed, []);
    assert.deepEqual(p.parse({ code: 0, stdout: 'done=1\n' }).installed, []);
    assert.throws(() => p.parse({ code: 1, stdout: '' }), /did not complete/);
  });

  it('rpm: each installed version (multilib may list two)', () => {
    const p = pkgProbe('ipvsadm', 'rpm');
    assert.match(p.script.text, /rpm -q --qf '%\{VERSION\}-%\{RELEASE\}\\n' ipvsadm/);
    assert.deepEqual(p.parse({ code: 0, stdout: 'rpm=1.24-13.el5\nrpm=1.24-13.el5\ndone=1\n' }).installed, ['1.24-13.el5', '1.24-13.el5']);
    assert.throws(() => pkgProbe('x', 'unknown'), ModuleError);
  });
});

describe('pkg plan (pure)', () => {
  const absent = { db: 'dpkg' as const, installed: [] };
  it('absent -> install with apt (noninteractive, confold), undo removes', () => {
    const [c] = planPkg({ name: 'ipvsadm', state: 'present' }, absent, 'apt');
    assert.equal(c!.summary, 'install package ipvsadm latest with apt');
    assert.match(scriptOf(c!.apply[0]), /DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Options::=--force-confold install ipvsadm$/);
    assert.match(scriptOf(c!.undo![0]), /apt-get -y remove ipvsadm$/);
    const [y] = planPkg({ name: 'ipvsadm', version: '1.24', state: 'present' }, { db: 'rpm', installed: [] }, 'yum');
    assert.match(scriptOf(y!.apply[0]), /yum -y install ipvsadm-1\.24$/);
    const [u] = planPkg({ name: 'ipvsadm', state: 'present', updateCache: true }, absent, 'apt');
    assert.match(scriptOf(u!.apply[0]), /apt-get update -qq && .*install ipvsadm/);
  });

  it('installed: ok without version or with a matching one; wrong version changes without undo', () => {
    const inst = { db: 'rpm' as const, installed: ['1.24-13.el5'] };
    assert.deepEqual(planPkg({ name: 'ipvsadm', state: 'present' }, inst, 'yum'), []);
    assert.deepEqual(planPkg({ name: 'ipvsadm', version: '1.24', state: 'present' }, inst, 'yum'), []);
    const [c] = planPkg({ name: 'ipvsadm', version: '1.26', state: 'present' }, inst, 'yum');
    assert.match(c!.summary, /^change package ipvsadm 1\.24-13\.el5 -> 1\.26 .*no undo/);
    assert.equal(c!.undo, undefined);
  });

  it('state absent removes an installed package (no undo) and is ok when absent', () => {
    const [c] = planPkg({ name: 'nscd', state: 'absent' }, { db: 'rpm', installed: ['2.5-1'] }, 'up2date');
    assert.match(scriptOf(c!.apply[0]), /rpm -e nscd$/);
    assert.equal(c!.undo, undefined);
    assert.deepEqual(planPkg({ name: 'nscd', state: 'absent' }, absent, 'apt'), []);
  });

  it('up2date cannot pin versions; unknown manager is an error', () => {
    assert.throws(
      () => planPkg({ name: 'x', version: '1', state: 'present' }, { db: 'rpm', installed: [] }, 'up2date'),
      /up2date cannot install a pinned version/,
    );
    assert.throws(() => planPkg({ name: 'x', state: 'present' }, absent, 'unknown'), ModuleError);
  });

  it('versionMatches: exact, upstream prefix, epoch', () => {
    assert.ok(versionMatches('1:1.31-1', '1.31'));
    assert.ok(versionMatches('1:1.31-1', '1:1.31-1'));
    assert.ok(!versionMatches('1:1.31-1', '2:1.31'));
    assert.ok(versionMatches('1.24-13.el5', '1.24-13.el5'));
    assert.ok(!versionMatches('1.24-13.el5', '1.2'));
    assert.ok(versionMatches('1.31', '1.31'));
  });

  it('rejects bad names and versions', () => {
    assert.throws(() => pkg({ name: 'a;b' }), ModuleError);
    assert.throws(() => pkg({ name: 'a', version: '1 2' }), ModuleError);
  });
});

// The seed's stand-in rpms (inventory/artifacts, built by make-standins.mjs): minimal rpm files
// with a real lead and headers, so the reader is tested on the files the seed ships.
const STANDIN_RPM = fileURLToPath(new URL('../../../../inventory/artifacts/perl-Time-HiRes-1.55-3.i386.STANDIN.rpm', import.meta.url));
const standinRpm = () => readFileSync(STANDIN_RPM);

describe('local packages', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it('reads name and VERSION-RELEASE from an rpm header without rpm', () => {
    assert.deepEqual(parseRpmHeader(standinRpm()), { name: 'perl-Time-HiRes', version: '1.55-3' });
    assert.throws(() => parseRpmHeader(Buffer.alloc(200)), /not an rpm/);
  });

  it('pushed .rpm: skipped when installed, upload + rpm -Uvh otherwise, name checked', async () => {
    const file = join(dir, 'hires.rpm');
    await writeFile(file, standinRpm());
    const local = await loadLocalPackage('perl-Time-HiRes', 'rpm', file);
    assert.deepEqual(planPkg({ name: 'perl-Time-HiRes', state: 'present' }, { db: 'rpm', installed: ['1.55-3'] }, 'up2date', local), []);
    const [c] = planPkg({ name: 'perl-Time-HiRes', state: 'present' }, { db: 'rpm', installed: [] }, 'up2date', local);
    assert.equal(c!.apply[0]!.kind, 'upload');
    assert.match((c!.apply[0] as { remotePath: string }).remotePath, /^\/tmp\/provision-[0-9a-f]{16}\.rpm$/);
    assert.match(scriptOf(c!.apply[1]), /rpm -Uvh --oldpackage \/tmp\/provision-.*; rc=\$\?\nrm -f /);
    assert.match(scriptOf(c!.undo![0]), /rpm -e perl-Time-HiRes$/);
    await assert.rejects(loadLocalPackage('other', 'rpm', file), /contains package perl-Time-HiRes, not other/);
  });

  it('pushed .deb read with dpkg-deb; plan through the task picks the file for the host db', async () => {
    const root = join(dir, 'debroot');
    await mkdir(join(root, 'DEBIAN'), { recursive: true });
    await writeFile(
      join(root, 'DEBIAN', 'control'),
      'Package: provision-demo\nVersion: 1:2.0-3\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: test\n',
    );
    execFileSync('dpkg-deb', ['--build', root, join(dir, 'demo.deb')], { stdio: 'ignore' });
    const t = pkg({ name: 'provision-demo', deb: 'demo.deb', rpm: 'demo.rpm' });
    const ctx = testContext({ projectDir: dir });
    assert.deepEqual(await t.plan({ db: 'dpkg', installed: ['1:2.0-3'] }, ctx), []);
    const [c] = await t.plan({ db: 'dpkg', installed: ['1:1.0-1'] }, ctx);
    assert.match(c!.summary, /change package provision-demo 1:1\.0-1 -> 1:2\.0-3 from demo\.deb/);
    assert.match(scriptOf(c!.apply[1]), /dpkg -i --force-confold \/tmp\/provision-[0-9a-f]{16}\.deb/);
    await assert.rejects(
      async () => pkg({ name: 'provision-demo', rpm: 'demo.rpm' }).plan({ db: 'dpkg', installed: [] }, ctx),
      /host uses dpkg but only a \.rpm was given/,
    );
  });
});

describe('pkg probe on this machine (real sh, dpkg)', () => {
  it('finds an installed package and not a bogus one', async () => {
    const dash = await runProbe(pkgProbe('dash', 'dpkg'));
    assert.equal(dash.installed.length, 1);
    assert.match(dash.installed[0]!, /^\S+$/);
    assert.deepEqual((await runProbe(pkgProbe('provision-no-such-package', 'dpkg'))).installed, []);
  });
});
