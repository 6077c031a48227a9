// keepalived on the director for the services whose health.monitor is keepalived: its checkers
// add and remove real servers in the IPVS table (instead of mon + lvs.alert). With lvs.ha, on
// every director, its VRRP instance also owns the VIPs (the static VIP and its boot unit are
// retired) and its lvs_sync_daemon keeps the backups' connection tables in step with the master.
import type { Play, Playbook, Task, TaskContext } from '../src/core/types.js';
import { directory, pkg, retiredService, service, serviceRestart, template } from '../src/modules/index.js';
import { keepalivedServices, lvsOf, lvsPreflight, vrrpInstance } from '../src/lvs/model.js';
import { RULES, tagged } from './lib/tags.js';

export const KEEPALIVED_CONF = '/etc/keepalived/keepalived.conf';
const RESTART_KEEPALIVED = 'restart keepalived';
/** After keepalived: a keepalived leaving VRRP deletes the VIP, which the boot unit puts back (HA -> one director, rollback). */
const RESTART_LVS_DIRECTOR = 'restart lvs-director';

export function keepalivedTasks(ctx: TaskContext): Task[] {
  const services = keepalivedServices(lvsOf(ctx));
  const vrrp = vrrpInstance(ctx);
  // No service under keepalived (any more) and no VRRP: a keepalived we configured stops and leaves the table.
  if (services.length === 0 && !vrrp) return [retiredService({ name: 'keepalived', ownedIf: { path: KEEPALIVED_CONF, marker: 'written by provision' } })];
  const tasks: Task[] = [];
  if (vrrp) {
    // VRRP owns the VIPs now: the single director's static VIP (its boot unit's stop removes it) must go first,
    // or the backup's keepalived and this alias would both answer ARP. Undone by rollback (start puts it back).
    tasks.push(
      retiredService({
        name: 'lvs-director',
        ownedIf: { path: '/usr/local/sbin/lvs-director', marker: 'written by provision' },
        notify: [RESTART_LVS_DIRECTOR],
      }),
    );
  }
  tasks.push(
    pkg({ name: 'keepalived' }),
    directory({ name: 'keepalived config dir', path: '/etc/keepalived', mode: '0755' }),
    template({
      // Written before the first start: Red Hat packages ship a sample config with demo VIPs.
      name: vrrp
        ? `keepalived.conf: VRRP ${vrrp.name} (${vrrp.state}, priority ${vrrp.priority})${vrrp.sync ? `, connection sync id ${vrrp.sync.id}` : ''}, one virtual_server per service`
        : 'keepalived.conf: one virtual_server per service',
      path: KEEPALIVED_CONF,
      template: 'lvs/keepalived.conf.hbs',
      mode: '0640',
      data: { services, routerId: ctx.host, vrrp: vrrp ?? null },
      notify: [RESTART_KEEPALIVED, RESTART_LVS_DIRECTOR],
      tags: [RULES],
    }),
    service({ name: 'keepalived', enabled: true, running: true }),
  );
  return tasks;
}

export const keepalivedPlay: Play = {
  name: 'keepalived health checks',
  hosts: 'directors',
  tasks: tagged('monitor', keepalivedTasks),
  // A restart re-adds every real server and checks again; running servers see a blip of at most one check.
  // Order matters: keepalived first (leaving VRRP it deletes the VIPs it held), then the boot unit
  // re-adds the static VIP where one director keeps it (a try-restart: nothing where it is retired).
  handlers: () => ({
    [RESTART_KEEPALIVED]: serviceRestart({ name: 'keepalived' }),
    [RESTART_LVS_DIRECTOR]: serviceRestart({ name: 'lvs-director' }),
  }),
};

const playbook: Playbook = {
  name: 'monitor-keepalived',
  description: 'keepalived health checks on the director',
  plays: [keepalivedPlay],
  preflight: lvsPreflight,
};
export default playbook;
