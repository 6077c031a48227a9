// mon on the director: one watch per real server; a safe lvs.alert takes a dead real server
// out of the IPVS table and puts it back, with the weight and method the inventory gives.
import type { Play, Playbook, Task, TaskContext } from '../src/core/types.js';
import { directory, file, pkg, retiredService, service, serviceRestart, template } from '../src/modules/index.js';
import { RELOAD_SYSTEMD, reloadSystemd } from './lib/handlers.js';
import { isLegacyEl, lvsOf, monWatches } from '../src/lvs/model.js';
import { RULES, tagged } from './lib/tags.js';

const ALERT_DIR = '/usr/lib/mon/alert.d';
const MON_DIR = '/usr/lib/mon/mon.d';

interface MonPackage { name: string; rpm?: string; deb?: string }

/** Debian has everything packaged; Red Hat hosts may list pushed rpms (the seed's rpmforge set). */
function monPackages(ctx: TaskContext): MonPackage[] {
  const listed = ctx.vars.mon_packages;
  if (Array.isArray(listed)) return listed as MonPackage[];
  if (ctx.facts.os.family === 'debian') return [{ name: 'mon' }, { name: 'fping' }];
  return ['mon', 'fping', 'perl-Mon', 'perl-Time-Period', 'perl-Convert-BER', 'perl-Net-Telnet'].map((name) => ({ name }));
}

export function monTasks(ctx: TaskContext): Task[] {
  const watches = monWatches(lvsOf(ctx));
  // No service under mon (any more): a mon we configured stops, so it cannot fight another monitor.
  if (watches.length === 0) return [retiredService({ name: 'mon', ownedIf: { path: '/etc/mon/mon.cf', marker: 'written by provision' } })];
  const systemd = ctx.facts.init === 'systemd';
  const tasks: Task[] = monPackages(ctx).map((p) => pkg({ name: p.name, ...(p.rpm ? { rpm: p.rpm } : {}), ...(p.deb ? { deb: p.deb } : {}) }));
  tasks.push(
    directory({ name: 'mon config dir', path: '/etc/mon', mode: '0755' }),
    directory({ name: 'mon alert dir', path: ALERT_DIR, mode: '0755' }),
    template({
      name: 'lvs.alert (validated args, no shell, idempotent)', path: `${ALERT_DIR}/lvs.alert`, template: 'lvs/lvs.alert.hbs', mode: '0755',
      data: { ipvsadmPaths: [] },
    }),
    template({
      name: 'mon.cf: one watch per real server', path: '/etc/mon/mon.cf', template: 'lvs/mon.cf.hbs', mode: '0644',
      data: { watches, alertDir: ALERT_DIR, monDir: MON_DIR }, notify: ['restart mon'], tags: [RULES],
    }),
    template({ name: 'mon auth.cf', path: '/etc/mon/auth.cf', template: 'lvs/auth.cf.hbs', mode: '0644', notify: ['restart mon'] }),
  );
  if (systemd) {
    tasks.push(directory({ name: 'mon unit drop-in dir', path: '/etc/systemd/system/mon.service.d', mode: '0755' }));
    tasks.push(template({
      name: 'mon may change the IPVS table (CAP_NET_ADMIN)', path: '/etc/systemd/system/mon.service.d/provision-lvs.conf',
      template: 'lvs/mon-capabilities.conf.hbs', mode: '0644', notify: [RELOAD_SYSTEMD, 'restart mon'],
    }));
  } else {
    // SysV: our init script (chkconfig header, as the seed's) runs mon as root so lvs.alert can run ipvsadm.
    tasks.push(template({ name: 'mon init script', path: '/etc/init.d/mon', template: 'lvs/mon.init.hbs', mode: '0755', notify: ['restart mon'] }));
  }
  if (ctx.facts.os.family === 'debian' && !isLegacyEl(ctx.facts)) {
    tasks.push(file({ name: 'mon enabled in /etc/default/mon', path: '/etc/default/mon', content: '# Written by provision.\nENABLED="yes"\nDAEMON_OPTS="-f"\n', mode: '0644', notify: ['restart mon'] }));
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

const playbook: Playbook = { name: 'monitor-mon', description: 'mon + lvs.alert on the director', plays: [monPlay] };
export default playbook;
