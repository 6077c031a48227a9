// noarp built as the seed did, for real: the real server's sourceBuild steps run in the local sh
// inside a private mount namespace (unshare -m; tmpfs over /usr/src, /boot, /var/tmp,
// /usr/local/sbin and /lib/modules (or an overlay adding it), so nothing of this machine changes) against a FAKE RHEL AS 3:
// a stand-in `uname` (2.4.21-37.EL, i686), a stand-in kernel source tree whose Makefile writes
// version.h on `make dep` (EXTRAVERSION from the command line, as a real 2.4 tree), and a
// stand-in noarp tarball whose configure needs the configured tree at /usr/src/linux, as the seed's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Step } from '../../src/core/types.js';
import { loadInventory } from '../../src/inventory/load.js';
import { loadFactsFixture } from '../../src/core/facts-fixture.js';
import { sha256File } from '../../src/modules/util.js';
import { realServerTasks } from '../../playbooks/realserver.js';
import { ROOT } from './helpers/renders.js';

const KVER = '2.4.21-37.EL';

function fixture(dir: string) {
  const w = (p: string, text: string, mode = 0o644) => {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), text);
    chmodSync(join(dir, p), mode);
  };
  w('bin/uname', `#!/bin/sh\ncase "$1" in -r) echo ${KVER} ;; -m) echo i686 ;; *) exec /bin/uname "$@" ;; esac\n`, 0o755);
  w(
    'kernel/Makefile',
    'VERSION = 2\nPATCHLEVEL = 4\nSUBLEVEL = 21\nEXTRAVERSION = -37.ELcustom\noldconfig:\n\ttest -f .config\ndep:\n\tmkdir -p include/linux\n\techo \'#define UTS_RELEASE "$(VERSION).$(PATCHLEVEL).$(SUBLEVEL)$(EXTRAVERSION)"\' > include/linux/version.h\n',
  );
  w('config', 'CONFIG_NET=y\n');
  w(
    'noarp/noarp-1.2.4/configure',
    `#!/bin/sh
[ -f /usr/src/linux/.config ] || { echo "configure: no configured kernel at /usr/src/linux" >&2; exit 1; }
kv=$(sed -n 's/^#define UTS_RELEASE "\\(.*\\)"$/\\1/p' /usr/src/linux/include/linux/version.h)
[ -n "$kv" ] || { echo "configure: no UTS_RELEASE" >&2; exit 1; }
echo "KVER=$kv" > config.mk
`,
    0o755,
  );
  w(
    'noarp/noarp-1.2.4/Makefile',
    "include config.mk\nall:\n\techo 'module for $(KVER)' > noarp.o\n\tprintf '#!/bin/sh\\necho noarpctl\\n' > noarpctl\ninstall:\n\tmkdir -p $(DESTDIR)/lib/modules/$(KVER)/kernel/net/ipv4 $(DESTDIR)/usr/local/sbin\n\tcp noarp.o $(DESTDIR)/lib/modules/$(KVER)/kernel/net/ipv4/noarp.o\n\tcp noarpctl $(DESTDIR)/usr/local/sbin/noarpctl\n\tchmod 755 $(DESTDIR)/usr/local/sbin/noarpctl\n",
  );
  execFileSync('sh', ['-c', `cd "${dir}/noarp" && tar cf - noarp-1.2.4 | gzip -n > "${dir}/noarp-fake-1.2.4.tar.gz"`]);
  return join(dir, 'noarp-fake-1.2.4.tar.gz');
}

test('noarp: kernel tree configured for the running kernel, built, installed, found by the installed check, undone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'noarp-build-'));
  try {
    const tarball = fixture(dir);
    const inventory = loadInventory(join(ROOT, 'test/fixtures/inventory/golden.yaml'));
    const facts = loadFactsFixture(join(ROOT, 'test/fixtures/facts/rhel-as-3.yaml')).rs1!;
    const vars = { ...inventory.hosts.get('rs1')!.vars, noarp_source: { path: tarball, sha256: await sha256File(tarball), kind: 'tarball' } };
    const ctx = { host: 'rs1', facts, vars, projectDir: ROOT, inventory };
    const build = realServerTasks(ctx).find((t) => t.module === 'sourceBuild')!;
    const installedCheck = build.probe(ctx).script;
    const [change] = await build.plan({ installed: false, checkCode: 1 }, ctx);
    const stepFile = (s: Step, i: number) => {
      const f = join(dir, `step${i}.sh`);
      writeFileSync(f, s.kind === 'upload' ? `cp '${s.localPath}' '${s.remotePath}' && chmod 600 '${s.remotePath}'\n` : s.script.text);
      return f;
    };
    const apply = change!.apply.map(stepFile);
    const undo = change!.undo!.map((s, i) => stepFile(s, 100 + i));
    writeFileSync(join(dir, 'probe.sh'), installedCheck.text);
    const driver = join(dir, 'driver.sh');
    writeFileSync(
      driver,
      `set -u
for m in /usr/src /boot /var/tmp /usr/local/sbin; do mount -t tmpfs none "$m" || exit 90; done
# /lib/modules may not exist here (a container's kernel): an overlay on /lib's directory adds it privately.
if [ -d /lib/modules ]; then mount -t tmpfs none /lib/modules || exit 90
else
  L=$(readlink -f /lib); mkdir -p '${dir}/ovl' && mount -t tmpfs none '${dir}/ovl' && mkdir '${dir}/ovl/u' '${dir}/ovl/w' &&
    mount -t overlay overlay -o "lowerdir=$L,upperdir=${dir}/ovl/u,workdir=${dir}/ovl/w" "$L" && mkdir /lib/modules || exit 90
fi
mkdir -p /usr/src/linux-${KVER} /usr/src/linux && cp -a '${dir}/kernel/.' /usr/src/linux-${KVER}/ && cp '${dir}/config' /boot/config-${KVER} || exit 91
echo mine > /usr/src/linux/MARKER
PATH='${dir}/bin':$PATH; export PATH
n=0
for s in ${apply.map((f) => `'${f}'`).join(' ')}; do n=$((n+1)); sh "$s" >"$s.out" 2>"$s.err" || { echo "apply step $n failed:"; cat "$s.err"; exit 1; }; done
echo "module: $(cat /lib/modules/${KVER}/kernel/net/ipv4/noarp.o)"
[ -x /usr/local/sbin/noarpctl ] && echo noarpctl=installed
[ -d /usr/src/linux ] && [ ! -L /usr/src/linux ] && cat /usr/src/linux/MARKER
[ -d /var/tmp/provision-build/noarp-* ] && echo build-dir-left || echo build-dir-removed
sh '${join(dir, 'probe.sh')}'
for s in ${undo.map((f) => `'${f}'`).join(' ')}; do sh "$s" >/dev/null 2>"$s.err" || { echo "undo failed:"; cat "$s.err"; exit 1; }; done
[ -e /usr/local/sbin/noarpctl ] || [ -e /lib/modules/${KVER} ] && echo undo-left-files || echo undo-clean
sh '${join(dir, 'probe.sh')}'
`,
    );
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', driver], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines, [
      `module: module for ${KVER}`, // built against a tree that says exactly the running release
      'noarpctl=installed',
      'mine', // the host's own /usr/src/linux is back
      'build-dir-removed',
      'installed=0',
      'undo-clean',
      'installed=1',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
