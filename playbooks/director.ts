// The director ("Redirect Server"): ipvsadm, the VIP, the IPVS table (live and at boot).
import type { Play, Playbook, Task, TaskContext } from '../src/core/types.js';
import { sh } from '../src/core/shell.js';
import { kernelModule, pkg, service, sourceBuild, sysctl, template } from '../src/modules/index.js';
import { reloadSystemd } from './lib/handlers.js';
import { desiredTable, renderIpvsSave, serviceKey } from '../src/lvs/ipvs-table.js';
import { ipvsKernel, ipvsRules } from '../src/lvs/ipvs-rules.js';
import { ipAddress } from '../src/modules/ip-address.js';
import { artifactVar } from '../src/lvs/artifacts.js';
import {
  IPVS_SYSCTLS,
  directorInterface,
  ipvsModules,
  ipvsRulesPath,
  isLegacyEl,
  lvsOf,
  lvsPreflight,
  lvsSysctlFile,
  servicesByOwner,
  uniq,
  vipsOf,
  vrrpInstance,
} from '../src/lvs/model.js';
import { bootUnitTasks } from './lib/boot-unit.js';
import { ipvsadmNoSaveTasks } from './lib/ipvsadm-persist.js';
import { RULES, tagged } from './lib/tags.js';

function ipvsadmInstall(ctx: TaskContext): Task {
  const src = artifactVar(ctx, 'ipvsadm_source');
  if (!src) return pkg({ name: 'ipvsadm' });
  const installedCheck =
    src.kind === 'srpm'
      ? src.version
        ? sh`rpm -q ipvsadm | grep -q -- ${`-${src.version}`}`
        : sh`rpm -q ipvsadm`
      : sh`command -v ipvsadm >/dev/null 2>&1 || [ -x /sbin/ipvsadm ]`;
  return sourceBuild({ name: 'ipvsadm', artifact: src.path, sha256: src.sha256, kind: src.kind, installedCheck });
}

/**
 * NAT: the director routes the real servers' replies. It must send no ICMP redirects: when the
 * client's subnet shares the LAN, a redirect tells a real server to answer the client directly,
 * bypassing the un-NAT (seen in the VM lab: the first request per real server worked, the rest
 * failed). send_redirects is OR-ed over all and the interface, so both (and default) are set.
 */
export function natDirectorSysctls(iface: string): { key: string; value: string }[] {
  return [
    { key: 'net.ipv4.ip_forward', value: '1' },
    { key: 'net.ipv4.conf.all.send_redirects', value: '0' },
    { key: 'net.ipv4.conf.default.send_redirects', value: '0' },
    { key: `net.ipv4.conf.${iface}.send_redirects`, value: '0' },
  ];
}

export function directorTasks(ctx: TaskContext): Task[] {
  const lvs = lvsOf(ctx);
  const f = ctx.facts;
  const iface = directorInterface(ctx);
  // keepalived loads its own services at start; the boot rules hold the rest.
  const table = desiredTable(servicesByOwner(lvs).mine);
  const vips = vipsOf(lvs.services);
  const nat = lvs.services.some((s) => s.forwarding === 'nat');
  const sysctlFile = lvsSysctlFile(f);
  const tasks: Task[] = [ipvsadmInstall(ctx)];

  // The table the ipvsadm service loads at boot.
  tasks.push(
    template({
      name: 'IPVS rules loaded at boot',
      path: ipvsRulesPath(f),
      template: 'lvs/ipvsadm.rules.hbs',
      mode: '0600',
      tags: [RULES],
      data: { rules: renderIpvsSave(table).trimEnd() },
    }),
  );
  if (f.os.family === 'debian') {
    tasks.push(
      template({ name: 'ipvsadm loads its rules at boot', path: '/etc/default/ipvsadm', template: 'lvs/ipvsadm.default.hbs', mode: '0644', data: { iface } }),
    );
  }
  // Enabled only: starting the service would flush and reload the live table, which provision manages itself.
  tasks.push(...ipvsadmNoSaveTasks(ctx));
  tasks.push(service({ name: 'ipvsadm', enabled: true }));

  // lvs.ha: keepalived's VRRP instance holds the VIPs on the master only (monitor-keepalived.ts);
  // a static alias here would make every director answer ARP for them.
  if (vrrpInstance(ctx)) {
    if (nat)
      for (const s of natDirectorSysctls(iface))
        tasks.push(sysctl({ name: `NAT: ${s.key} = ${s.value}`, key: s.key, value: s.value, persistFile: sysctlFile }));
    return tasks;
  }

  // The VIP: an ifcfg alias on legacy Red Hat (as the seed), else an address plus a boot unit.
  vips.forEach((vip, i) => {
    const label = `${iface}:${i + 1}`;
    if (isLegacyEl(f)) {
      tasks.push(
        template({
          name: `VIP ${vip} alias file`,
          path: `/etc/sysconfig/network-scripts/ifcfg-${label}`,
          template: 'lvs/ifcfg-alias.hbs',
          mode: '0644',
          data: {
            device: label,
            vip,
            services: lvs.services
              .filter((s) => s.vip === vip)
              .map((s) => s.name)
              .join(', '),
          },
        }),
      );
    }
    tasks.push(ipAddress({ name: `VIP ${vip} on ${iface}`, dev: iface, address: vip, label }));
  });
  // Every director's boot unit loads the IPVS modules, then sets the sysctls that only exist once
  // ip_vs is loaded (rc.sysinit's sysctl -p runs before EL 3/4's rc.modules); legacy Red Hat brings
  // the VIP up from its ifcfg alias instead.
  tasks.push(
    ...bootUnitTasks(ctx, {
      name: 'lvs-director',
      role: 'director',
      vipDev: iface,
      vips: isLegacyEl(f) ? [] : vips,
      vipLabel: vips.length === 1 ? `${iface}:1` : undefined,
      sysctls: nat ? natDirectorSysctls(iface) : [],
      ipvs: { modules: ipvsModules(lvs), sysctls: IPVS_SYSCTLS },
    }),
  );

  if (nat) {
    // NAT replies come back through the director: it must route, and must not redirect real servers elsewhere.
    for (const s of natDirectorSysctls(iface)) tasks.push(sysctl({ name: `NAT: ${s.key} = ${s.value}`, key: s.key, value: s.value, persistFile: sysctlFile }));
  }

  return tasks;
}

/** IPVS itself, last: fail clearly on a kernel without it, load the modules, converge the live table. */
export function directorIpvsTasks(ctx: TaskContext): Task[] {
  const lvs = lvsOf(ctx);
  const sysctlFile = lvsSysctlFile(ctx.facts);
  const tasks: Task[] = [ipvsKernel()];
  for (const m of uniq(['ip_vs', ...lvs.services.map((s) => `ip_vs_${s.scheduler}`)])) tasks.push(kernelModule({ name: m }));
  const { mine, keepalived } = servicesByOwner(lvs);
  // keepalived's services are foreign (its checkers add and remove their members); its checker state is
  // read so a member it reports alive while missing (a hand `ipvsadm -d`) is re-added, one it reports down is a note.
  tasks.push(ipvsRules({ table: desiredTable(mine), foreign: desiredTable(keepalived).map(serviceKey), monitored: mine, keepalived }));
  // Connections to a removed real server are expired at once instead of hanging (lvs-spec 3, problem 6).
  tasks.push(sysctl({ name: 'expire connections of removed real servers', key: 'net.ipv4.vs.expire_nodest_conn', value: '1', persistFile: sysctlFile }));
  return tasks;
}

export const directorIpvsPlay: Play = { name: 'LVS director: IPVS table', hosts: 'directors', tasks: tagged('director', directorIpvsTasks) };

export const directorPlay: Play = {
  name: 'LVS director',
  hosts: 'directors',
  tasks: tagged('director', directorTasks),
  handlers: reloadSystemd,
};

const playbook: Playbook = {
  name: 'director',
  description: 'the LVS director: ipvsadm, VIP, IPVS rules',
  plays: [directorPlay, directorIpvsPlay],
  preflight: lvsPreflight,
};
export default playbook;
