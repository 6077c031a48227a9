// The ipvsadm service must never save the live table over the boot rules provision wrote: a real
// server mon had taken out at shutdown would be missing from them after every reboot, and never
// come back (nothing upalerts a server that is not in the table).
//   EL 7+ (systemd): the packaged ipvsadm.service runs `ipvsadm-save -n > /etc/sysconfig/ipvsadm`
//     on every stop, whatever IPVSADM_SAVE_ON_STOP says: a drop-in replaces ExecStop with the
//     clear alone.
//   EL SysV: the EL 6 init script saves on stop/restart when /etc/sysconfig/ipvsadm-config says
//     yes: both are set to no (older scripts, as the seed's 1.24, never save on stop and do not read it).
// Debian's script has no autosave at all.
import type { Task, TaskContext } from '../../src/core/types.js';
import { directory, lineInFile, template } from '../../src/modules/index.js';
import { RELOAD_SYSTEMD } from './handlers.js';

export const IPVSADM_DROPIN = '/etc/systemd/system/ipvsadm.service.d/provision-no-save.conf';

export function ipvsadmNoSaveTasks(ctx: TaskContext): Task[] {
  if (ctx.facts.os.family !== 'redhat') return [];
  if (ctx.facts.init === 'systemd') {
    return [
      directory({ name: 'ipvsadm unit drop-in dir', path: '/etc/systemd/system/ipvsadm.service.d', mode: '0755' }),
      template({
        name: 'ipvsadm.service never saves the live table on stop',
        path: IPVSADM_DROPIN,
        template: 'lvs/ipvsadm-no-save.conf.hbs',
        mode: '0644',
        notify: [RELOAD_SYSTEMD],
      }),
    ];
  }
  return ['IPVSADM_SAVE_ON_STOP', 'IPVSADM_SAVE_ON_RESTART'].map((k) =>
    lineInFile({
      name: `ipvsadm init script: ${k}="no"`,
      path: '/etc/sysconfig/ipvsadm-config',
      line: `${k}="no"`,
      regexp: `^\\s*${k}=`,
      create: true,
      mode: '0644',
    }),
  );
}
