// A boot script plus the unit (systemd) or init script (SysV, with a chkconfig header) that runs
// it, enabled and active: LVS network state that survives a reboot.
import type { Task, TaskContext } from '../../src/core/types.js';
import { service, template } from '../../src/modules/index.js';
import { RELOAD_SYSTEMD } from './handlers.js';

export interface BootUnit {
  name: 'lvs-director' | 'lvs-realserver';
  role: string;
  vipDev: string;
  vips: string[];
  vipLabel?: string;
  linkUp?: boolean;
  modules?: string[];
  sysctls?: { key: string; value: string }[];
  gateway?: string;
  noarp?: { vip: string; rip: string }[];
  /** Director: IPVS modules (ip_vs first), then the sysctls that exist only once ip_vs is loaded. */
  ipvs?: { modules: string[]; sysctls: { key: string; value: string }[] };
  /** arptables rules re-added at every boot (no save file to get lost). */
  arptables?: { vip: string; rip: string }[];
}

export function bootUnitTasks(ctx: TaskContext, u: BootUnit): Task[] {
  const data = {
    modules: [],
    sysctls: [],
    noarp: [],
    arptables: [],
    ...u,
    ipvs: u.ipvs && { first: u.ipvs.modules[0] ?? 'ip_vs', more: u.ipvs.modules.slice(1), sysctls: u.ipvs.sysctls },
  };
  const tasks: Task[] = [template({ name: `${u.name} boot script`, path: `/usr/local/sbin/${u.name}`, template: 'lvs/lvs-boot.sh.hbs', mode: '0755', data })];
  if (ctx.facts.init === 'systemd') {
    tasks.push(
      template({
        name: `${u.name} unit`,
        path: `/etc/systemd/system/${u.name}.service`,
        template: 'lvs/lvs-boot.service.hbs',
        mode: '0644',
        data,
        notify: [RELOAD_SYSTEMD],
      }),
    );
  } else {
    tasks.push(template({ name: `${u.name} init script`, path: `/etc/init.d/${u.name}`, template: 'lvs/lvs-boot.init.hbs', mode: '0755', data }));
  }
  tasks.push(service({ name: u.name, enabled: true, running: true }));
  return tasks;
}
