// The whole LVS cluster, in the seed runbook's order: director, real servers, health monitor.
import type { Playbook } from '../src/core/types.js';
import { directorPlay } from './director.js';
import { realServerPlay } from './realserver.js';
import { monPlay } from './monitor-mon.js';

const playbook: Playbook = {
  name: 'site',
  description: 'LVS cluster: director (ipvsadm, VIP, rules), real servers (TUN/DR/NAT), mon with lvs.alert',
  plays: [directorPlay, realServerPlay, monPlay],
};
export default playbook;
