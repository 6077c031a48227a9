// The whole LVS cluster, in the seed runbook's order: director, real servers, health monitor;
// the live IPVS table last, once every file and service it relies on is in place.
import type { Playbook } from '../src/core/types.js';
import { directorIpvsPlay, directorPlay } from './director.js';
import { realServerPlay } from './realserver.js';
import { monPlay } from './monitor-mon.js';
import { keepalivedPlay } from './monitor-keepalived.js';
import { lvsPreflight } from '../src/lvs/model.js';

const playbook: Playbook = {
  name: 'site',
  description: 'LVS cluster: director (ipvsadm, VIP, rules), real servers (TUN/DR/NAT), mon with lvs.alert or keepalived',
  // keepalived before the live table: the table task leaves keepalived's services to it.
  plays: [directorPlay, realServerPlay, monPlay, keepalivedPlay, directorIpvsPlay],
  preflight: lvsPreflight,
};
export default playbook;
