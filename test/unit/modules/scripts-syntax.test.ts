// Every generated script must at least parse with the local POSIX sh (dash), including the ones
// that only run on lab hosts (package managers, init systems, rpmbuild).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { symlink, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PlannedChange, Step } from '../../../src/core/types.js';
import { fileProbe } from '../../../src/modules/file.js';
import { pkgProbe, planPkg } from '../../../src/modules/pkg.js';
import { planService, serviceProbe, serviceRestart } from '../../../src/modules/service.js';
import { kernelModuleProbe, persistTarget, planKernelModule } from '../../../src/modules/kernel-module.js';
import { planSysctl, sysctlProbe } from '../../../src/modules/sysctl.js';
import { srpmSteps, tarballSteps, buildLayout, sourceBuildProbe } from '../../../src/modules/source-build.js';
import { directoryProbe } from '../../../src/modules/directory.js';
import { raw, type Script } from '../../../src/core/shell.js';
import { commandProbe } from '../../../src/modules/command.js';
import { sha256 } from '../../../src/modules/util.js';
import { runProbe, sh, tempDir, testContext, testFacts } from '../helpers/local-host.js';

async function assertParses(script: Script): Promise<void> {
  const r = await sh(`cat > "$T" <<'__PROVISION_EOF__'\n${script.text}\n__PROVISION_EOF__\nsh -n "$T"; rc=$?; rm -f "$T"; exit $rc`, {
    env: { T: `/tmp/provision-syntax-${process.pid}.sh` },
  });
  assert.equal(r.code, 0, `sh -n failed (${r.stderr.trim()}) for:\n${script.text}`);
}

const stepsOf = (cs: PlannedChange[]): Step[] => cs.flatMap((c) => [...c.apply, ...(c.undo ?? [])]);

describe('generated scripts parse with sh -n', () => {
  it('probes', async () => {
    const scripts = [
      fileProbe('file', "/etc/it's.conf").script,
      directoryProbe('/srv/x').script,
      sysctlProbe('net.ipv4.ip_forward', '/etc/sysctl.conf').script,
      kernelModuleProbe('ip_vs', persistTarget('ip_vs', testFacts({ init: 'sysv' }))).script,
      pkgProbe('ipvsadm', 'dpkg').script,
      pkgProbe('ipvsadm', 'rpm').script,
      serviceProbe('ldirectord', 'systemd').script,
      serviceProbe('ldirectord', 'sysv-debian').script,
      serviceProbe('ldirectord', 'sysv-redhat').script,
      sourceBuildProbe(raw('ipvsadm --version | grep -q 1.31')).script,
      commandProbe({ creates: '/a', removes: '/b', unless: raw('test -f /c'), onlyIf: raw('true # comment') }).script,
    ];
    for (const s of scripts) await assertParses(s);
  });

  it('apply and undo steps', async () => {
    const steps: Step[] = [
      ...stepsOf(
        planSysctl('net.ipv4.ip_forward', '1', '/etc/sysctl.conf', { runtime: '0', persisted: null, file: { path: '/etc/sysctl.conf', type: 'absent' } }),
      ),
      ...stepsOf(
        planKernelModule('ip_vs', persistTarget('ip_vs', testFacts({ init: 'sysv', os: { family: 'redhat', id: 'rhel', version: '4', prettyName: '' } })), {
          loaded: false,
          builtin: false,
          persistFile: { path: '/x', type: 'absent' },
        }),
      ),
      ...stepsOf(planPkg({ name: 'ipvsadm', state: 'present', version: '1.26' }, { db: 'dpkg', installed: [] }, 'apt')),
      ...stepsOf(
        planPkg({ name: 'ipvsadm', state: 'present' }, { db: 'rpm', installed: [] }, 'up2date', {
          localPath: '/x.rpm',
          sha256: sha256('x'),
          meta: { name: 'ipvsadm', version: '1.24-1' },
        }),
      ),
      ...stepsOf(
        planPkg({ name: 'ipvsadm', state: 'present' }, { db: 'dpkg', installed: [] }, 'apt', {
          localPath: '/x.deb',
          sha256: sha256('x'),
          meta: { name: 'ipvsadm', version: '1.24-1' },
        }),
      ),
      ...stepsOf(planPkg({ name: 'ipvsadm', state: 'absent' }, { db: 'rpm', installed: ['1'] }, 'dnf')),
      ...(['systemd', 'sysv-debian', 'sysv-redhat'] as const).flatMap((f) =>
        stepsOf(planService('mon', { enabled: true, running: true }, { flavor: f, enabled: false, running: false, enabledRaw: '', registered: false })),
      ),
      ...stepsOf(
        await serviceRestart({ name: 'mon' }).plan(
          { flavor: 'sysv-debian', enabled: true, running: true, enabledRaw: '', registered: true },
          testContext({}, { init: 'sysv' }),
        ),
      ),
      ...Object.values(
        tarballSteps(buildLayout('/var/tmp/w', 'ipvsadm', sha256('a'), 'ipvsadm-1.26.tar.gz'), '/l', raw('make'), raw('make install BUILD_ROOT="$STAGE"')),
      ).flat(),
      ...Object.values(srpmSteps(buildLayout('/var/tmp/w', 'ipvsadm', sha256('a'), 'ipvsadm-1.24.src.rpm'), '/l', raw('rpmbuild --rebuild "$SRPM"'))).flat(),
    ];
    let n = 0;
    for (const s of steps)
      if (s.kind === 'exec') {
        await assertParses(s.script);
        n++;
      }
    assert.ok(n > 20, `checked ${n} scripts`);
  });
});

describe('file probe without base64/sha256sum (old coreutils)', () => {
  it('falls back to od hex and the controller hashes the content', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const bin = join(dir, 'bin');
      await mkdir(bin);
      for (const tool of ['stat', 'tr', 'od', 'cut', 'sed'])
        await symlink(`/usr/bin/${tool}`, join(bin, tool)).catch(() => symlink(`/bin/${tool}`, join(bin, tool)));
      const path = join(dir, 'f');
      await writeFile(path, Buffer.from([0, 1, 255, 10]));
      const s = await runProbe(fileProbe('file', path), { env: { PATH: bin } });
      assert.deepEqual([...s.content!], [0, 1, 255, 10]);
      assert.equal(s.sha256, sha256(Buffer.from([0, 1, 255, 10])));
    } finally {
      await cleanup();
    }
  });
});
