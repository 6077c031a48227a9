// keepalived on the director for the services whose health.monitor is keepalived: its checkers
// add and remove real servers in the IPVS table (instead of mon + lvs.alert). No VRRP: one
// director, whose VIP the director play keeps.
import type { Play, Playbook, Task, TaskContext } from '../src/core/types.js';
import { directory, pkg, retiredService, service, serviceRestart, template } from '../src/modules/index.js';
import { keepalivedServices, lvsOf } from '../src/lvs/model.js';
import { RULES, tagged } from './lib/tags.js';

export const KEEPALIVED_CONF = '/etc/keepalived/keepalived.conf';

export function keepalivedTasks(ctx: TaskContext): Task[] {
  const services = keepalivedServices(lvsOf(ctx));
  // No service under keepalived (any more): a keepalived we configured stops and leaves the table.
  if (services.length === 0) return [retiredService({ name: 'keepalived', ownedIf: { path: KEEPALIVED_CONF, marker: 'written by provision' } })];
  return [
    pkg({ name: 'keepalived' }),
    directory({ name: 'keepalived config dir', path: '/etc/keepalived', mode: '0755' }),
    template({
      // Written before the first start: Red Hat packages ship a sample config with demo VIPs.
      name: 'keepalived.conf: one virtual_server per service', path: KEEPALIVED_CONF, template: 'lvs/keepalived.conf.hbs', mode: '0640',
      data: { services, routerId: ctx.host }, notify: ['restart keepalived'], tags: [RULES],
    }),
    service({ name: 'keepalived', enabled: true, running: true }),
  ];
}

export const keepalivedPlay: Play = {
  name: 'keepalived health checks',
  hosts: 'directors',
  tasks: tagged('monitor', keepalivedTasks),
  // A restart re-adds every real server and checks again; running servers see a blip of at most one check.
  handlers: () => ({ 'restart keepalived': serviceRestart({ name: 'keepalived' }) }),
};

const playbook: Playbook = { name: 'monitor-keepalived', description: 'keepalived health checks on the director', plays: [keepalivedPlay] };
export default playbook;
