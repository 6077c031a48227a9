// `provision/lvs`: the LVS playbooks as a library a team composes into its own playbook
//   plays: [...lvsSite(), { name: 'our bits', hosts: 'all', tasks: (ctx) => [...] }]
// The plays read the inventory's `lvs` section and groups `directors` / `real_servers`.
import type { Play } from '../core/types.js';
import site from '../../playbooks/site.js';

/**
 * The whole cluster in the order `provision up` runs it: director, real servers, mon or
 * keepalived, then the live IPVS table once everything it relies on is in place. A fresh array:
 * add the team's plays before or after it.
 */
export function lvsSite(): Play[] {
  return [...site.plays];
}

/** The built-in `site` playbook itself (what `provision up inventory.yaml` runs without a playbook). */
export { site as lvsSitePlaybook };
export { directorPlay, directorIpvsPlay, directorTasks, directorIpvsTasks } from '../../playbooks/director.js';
export { realServerPlay, realServerTasks } from '../../playbooks/realserver.js';
export { monPlay, monTasks } from '../../playbooks/monitor-mon.js';
export { keepalivedPlay, keepalivedTasks } from '../../playbooks/monitor-keepalived.js';
export { lvsOf, lvsPreflight, vipsOf, directorInterface, realServerRoles } from './model.js';
export { ipvsRules, ipvsKernel } from './ipvs-rules.js';
export { desiredTable, renderIpvsSave, parseIpvsSave, diffIpvs, type IpvsTable, type IpvsService, type IpvsDest } from './ipvs-table.js';
