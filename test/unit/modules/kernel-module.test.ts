import type { Script } from '../../../src/core/shell.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { kernelModule, kernelModuleProbe, persistTarget, planKernelModule, type KernelModuleState } from '../../../src/modules/kernel-module.js';
import { ModuleError } from '../../../src/modules/errors.js';
import type { FileState } from '../../../src/modules/file.js';
import { sha256 } from '../../../src/modules/util.js';
import { runProbe, runSteps, testFacts } from '../helpers/local-host.js';

const systemd = testFacts();
const debSysv = testFacts({ init: 'sysv' });
const elSysv = testFacts({ init: 'sysv', os: { family: 'redhat', id: 'centos', version: '5.11', prettyName: 'CentOS 5' } });

function fileWith(path: string, text: string): FileState {
  const b = Buffer.from(text);
  return { path, type: 'file', mode: '0644', uid: 0, gid: 0, owner: 'root', group: 'root', size: b.length, sha256: sha256(b), content: b };
}

describe('kernelModule plan (pure)', () => {
  it('persist target per init system and family', () => {
    assert.deepEqual(persistTarget('ip_vs', systemd), { kind: 'modules-load.d', path: '/etc/modules-load.d/ip_vs.conf' });
    assert.deepEqual(persistTarget('ip_vs', debSysv), { kind: 'etc-modules', path: '/etc/modules' });
    assert.deepEqual(persistTarget('ip_vs', elSysv), { kind: 'sysconfig-modules', path: '/etc/sysconfig/modules/ip_vs.modules' });
    assert.throws(() => persistTarget('ip_vs', testFacts({ init: 'sysv', os: { family: 'unknown', id: 'x', version: '', prettyName: '' } })), ModuleError);
  });

  it('loaded but not persisted (systemd): only the modules-load.d file', () => {
    const target = persistTarget('ip_vs', systemd);
    const state: KernelModuleState = { loaded: true, builtin: false, persistFile: { path: target.path, type: 'absent' } };
    const [c, ...rest] = planKernelModule('ip_vs', target, state);
    assert.equal(rest.length, 0);
    assert.match(c!.summary, /^load ip_vs at boot via \/etc\/modules-load\.d\/ip_vs\.conf: create/);
    assert.equal((c!.apply[0] as { stdin: Buffer }).stdin.toString(), 'ip_vs\n');
  });

  it('not loaded and persisted: modprobe with modprobe -r undo', () => {
    const target = persistTarget('ip_vs', systemd);
    const [c, ...rest] = planKernelModule('ip_vs', target, { loaded: false, builtin: false, persistFile: fileWith(target.path, 'ip_vs\n') });
    assert.equal(rest.length, 0);
    assert.equal(c!.summary, 'load kernel module ip_vs');
    assert.match((c!.apply[0] as { script: Script }).script.text, /modprobe ip_vs 2>&1\) \|\| \{ printf .*modprobe ip_vs failed:/);
    assert.match((c!.undo![0] as { script: Script }).script.text, /modprobe -r ip_vs$/);
  });

  it('Debian sysv: appends to /etc/modules, and a line with parameters counts as persisted', () => {
    const target = persistTarget('ip_vs', debSysv);
    const [c] = planKernelModule('ip_vs', target, { loaded: true, builtin: false, persistFile: fileWith('/etc/modules', '# /etc/modules\nloop\n') });
    assert.equal((c!.apply[0] as { stdin: Buffer }).stdin.toString(), '# /etc/modules\nloop\nip_vs\n');
    assert.deepEqual(
      planKernelModule('ip_vs', target, { loaded: true, builtin: false, persistFile: fileWith('/etc/modules', 'ip_vs conn_tab_bits=20\n') }),
      [],
    );
    assert.deepEqual(
      planKernelModule('ip_vs', target, { loaded: true, builtin: false, persistFile: fileWith('/etc/modules', 'ip_vs_wrr\n') }).length,
      1,
      'ip_vs_wrr is not ip_vs',
    );
  });

  it('Red Hat sysv: an executable .modules script', () => {
    const target = persistTarget('ip_vs', elSysv);
    const [c] = planKernelModule('ip_vs', target, { loaded: true, builtin: false, persistFile: { path: target.path, type: 'absent' } });
    assert.match(c!.summary, /mode 0755/);
    assert.match((c!.apply[0] as { stdin: Buffer }).stdin.toString(), /^#!\/bin\/sh\n.*\n\/sbin\/modprobe ip_vs >\/dev\/null 2>&1\n$/);
  });

  it('built-in modules need neither load nor persistence', () => {
    const target = persistTarget('ip_vs', systemd);
    assert.deepEqual(planKernelModule('ip_vs', target, { loaded: true, builtin: true, persistFile: { path: target.path, type: 'absent' } }), []);
  });

  it('validates the name', () => {
    assert.throws(() => kernelModule({ name: 'ip_vs; rm -rf /' }), ModuleError);
  });
});

describe('kernelModule probe and modprobe failure (real sh)', () => {
  it('reports a module listed in /sys/module as loaded and a bogus one as not', async () => {
    const listed = (await readdir('/sys/module').catch(() => [] as string[]))[0];
    if (listed) assert.equal((await runProbe(kernelModuleProbe(listed, null))).loaded, true);
    const s = await runProbe(kernelModuleProbe('provision_no_such_mod', persistTarget('provision_no_such_mod', systemd)));
    assert.deepEqual([s.loaded, s.builtin, s.persistFile!.type], [false, false, 'absent']);
  });

  it('surfaces the modprobe failure with a prefix', async () => {
    const [c] = planKernelModule('provision_no_such_mod', null, { loaded: false, builtin: false, persistFile: null });
    await assert.rejects(runSteps(c!.apply), /modprobe provision_no_such_mod failed:/);
  });
});
