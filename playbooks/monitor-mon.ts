// mon on the director: one watch per real server; a safe lvs.alert takes a dead real server
// out of the IPVS table and puts it back, with the weight and method the inventory gives.
import { raw, sh } from '../src/core/shell.js';
import type { HostFacts, Play, Playbook, Task, TaskContext } from '../src/core/types.js';
import { directory, file, pkg, retiredService, service, serviceRestart, sourceBuild, template } from '../src/modules/index.js';
import { RELOAD_SYSTEMD, reloadSystemd } from './lib/handlers.js';
import { isLegacyEl, lvsOf, lvsPreflight, monWatches } from '../src/lvs/model.js';
import { artifactVar, packageListVar, type PushedPackage } from '../src/lvs/artifacts.js';
import { ModuleError } from '../src/modules/errors.js';
import { RULES, tagged } from './lib/tags.js';

/**
 * Where mon lives, by how it was installed: the tarball as the seed copied it (/usr/lib/mon/mon),
 * Debian/Ubuntu (/usr/sbin/mon, /usr/lib/mon/*.d), Fedora/EPEL rpms (/usr/bin/mon,
 * %{_libdir}/mon: /usr/lib64/mon on x86_64).
 */
export interface MonLayout {
  kind: 'tarball' | 'debian' | 'rpm';
  bin: string;
  libDir: string;
}

export function monLayout(f: HostFacts, fromTarball: boolean): MonLayout {
  if (fromTarball) return { kind: 'tarball', bin: '/usr/lib/mon/mon', libDir: '/usr/lib/mon' };
  if (f.os.family === 'debian') return { kind: 'debian', bin: '/usr/sbin/mon', libDir: '/usr/lib/mon' };
  return { kind: 'rpm', bin: '/usr/bin/mon', libDir: /64$/.test(f.arch) ? '/usr/lib64/mon' : '/usr/lib/mon' };
}

/** The seed's copy of the mon tarball: no build, the scripts copied under /usr/lib/mon. */
function monFromTarball(ctx: TaskContext): Task | undefined {
  const src = artifactVar(ctx, 'mon_source');
  if (!src) return undefined;
  if (src.kind !== 'tarball') throw new ModuleError('lvs', `${ctx.host}: mon_source.kind must be tarball (mon is perl scripts, copied as the seed did)`);
  return sourceBuild({
    name: 'mon',
    artifact: src.path,
    sha256: src.sha256,
    kind: 'tarball',
    installedCheck: sh`[ -x /usr/lib/mon/mon ]`,
    // A tree without mon's perl script is not mon (a wrong or stand-in tarball): stop here.
    buildScript: raw(`head -n 1 mon 2>/dev/null | grep -q perl || { echo "not a mon source tree: ./mon is not a perl script" >&2; exit 1; }
[ -d mon.d ] && [ -d alert.d ] || { echo "not a mon source tree: no mon.d/alert.d" >&2; exit 1; }`),
    installScript: raw(
      `mkdir -p "$STAGE/usr/lib/mon/log.d" && cp -r alert.d mon.d mon "$STAGE/usr/lib/mon/" && { [ ! -d state.d ] || cp -r state.d "$STAGE/usr/lib/mon/"; }`,
    ),
  });
}

/** Debian has everything packaged; Red Hat hosts may list pushed rpms (the seed's rpmforge set). */
function monPackages(ctx: TaskContext, fromTarball: boolean): PushedPackage[] {
  const listed = packageListVar(ctx, 'mon_packages');
  if (listed) return listed;
  const f = ctx.facts;
  if (f.os.family === 'debian')
    return fromTarball ? [{ name: 'mon-client' }, { name: 'libtime-period-perl' }, { name: 'fping' }] : [{ name: 'mon' }, { name: 'fping' }];
  if (f.packageManager === 'dnf' || f.packageManager === 'up2date') {
    // perl-Mon is packaged for Fedora and EPEL 7 only: EL 8/9 repositories and their EPEL have no mon;
    // RHEL 3's up2date channels never had it. Refuse before any change rather than fail mid-run.
    const why = f.packageManager === 'dnf' ? 'neither its repositories nor EPEL 8/9 have mon or perl-Mon' : 'its up2date channels have no mon';
    throw new ModuleError(
      'lvs',
      `${ctx.host}: ${f.os.prettyName}: ${why}; ` +
        'set mon_packages (pushed rpms with sha256) and/or mon_source (the mon tarball), or use health.monitor: keepalived',
    );
  }
  const perl = ['perl-Mon', 'perl-Time-Period', 'perl-Convert-BER', 'perl-Net-Telnet'];
  return [...(fromTarball ? [] : ['mon']), 'fping', ...perl].map((name) => ({ name }));
}

export function monTasks(ctx: TaskContext): Task[] {
  const watches = monWatches(lvsOf(ctx));
  // No service under mon (any more): a mon we configured stops, so it cannot fight another monitor.
  if (watches.length === 0) return [retiredService({ name: 'mon', ownedIf: { path: '/etc/mon/mon.cf', marker: 'written by provision' } })];
  const systemd = ctx.facts.init === 'systemd';
  const tarball = monFromTarball(ctx);
  const layout = monLayout(ctx.facts, tarball !== undefined);
  const alertDir = `${layout.libDir}/alert.d`;
  const monDir = `${layout.libDir}/mon.d`;
  const tasks: Task[] = monPackages(ctx, tarball !== undefined).map((p) =>
    pkg({ name: p.name, ...(p.rpm ? { rpm: p.rpm } : {}), ...(p.deb ? { deb: p.deb } : {}) }),
  );
  if (tarball) tasks.push(tarball);
  tasks.push(
    directory({ name: 'mon config dir', path: '/etc/mon', mode: '0755' }),
    directory({ name: 'mon alert dir', path: alertDir, mode: '0755' }),
    template({
      name: 'lvs.alert (validated args, no shell, idempotent)',
      path: `${alertDir}/lvs.alert`,
      template: 'lvs/lvs.alert.hbs',
      mode: '0755',
      data: { ipvsadmPaths: [] },
    }),
    template({
      name: 'mon.cf: one watch per real server',
      path: '/etc/mon/mon.cf',
      template: 'lvs/mon.cf.hbs',
      mode: '0644',
      data: { watches, alertDir, monDir },
      notify: ['restart mon'],
      tags: [RULES],
    }),
    template({ name: 'mon auth.cf', path: '/etc/mon/auth.cf', template: 'lvs/auth.cf.hbs', mode: '0644', notify: ['restart mon'] }),
  );
  if (systemd && !tarball) {
    tasks.push(directory({ name: 'mon unit drop-in dir', path: '/etc/systemd/system/mon.service.d', mode: '0755' }));
    tasks.push(
      template({
        name: 'mon may change the IPVS table (CAP_NET_ADMIN)',
        path: '/etc/systemd/system/mon.service.d/provision-lvs.conf',
        template: 'lvs/mon-capabilities.conf.hbs',
        mode: '0644',
        notify: [RELOAD_SYSTEMD, 'restart mon'],
      }),
    );
  } else {
    // SysV (or a tarball mon, which brings no unit: systemd runs the script through its sysv
    // generator): our init script (chkconfig header, as the seed's) runs mon as root so lvs.alert can run ipvsadm.
    tasks.push(
      template({
        name: 'mon init script',
        path: '/etc/init.d/mon',
        template: 'lvs/mon.init.hbs',
        mode: '0755',
        data: { monCandidates: [...new Set([layout.bin, '/usr/lib/mon/mon', '/usr/bin/mon', '/usr/sbin/mon'])] },
        notify: systemd ? [RELOAD_SYSTEMD, 'restart mon'] : ['restart mon'],
      }),
    );
  }
  if (ctx.facts.os.family === 'debian' && !isLegacyEl(ctx.facts) && !tarball) {
    tasks.push(
      file({
        name: 'mon enabled in /etc/default/mon',
        path: '/etc/default/mon',
        content: '# Written by provision.\nENABLED="yes"\nDAEMON_OPTS="-f"\n',
        mode: '0644',
        notify: ['restart mon'],
      }),
    );
  }
  tasks.push(service({ name: 'mon', enabled: true, running: true }));
  return tasks;
}

export const monPlay: Play = {
  name: 'mon health checks',
  hosts: 'directors',
  tasks: tagged('monitor', monTasks),
  handlers: () => ({ ...reloadSystemd(), 'restart mon': serviceRestart({ name: 'mon' }) }),
};

const playbook: Playbook = { name: 'monitor-mon', description: 'mon + lvs.alert on the director', plays: [monPlay], preflight: lvsPreflight };
export default playbook;
