// Real servers: the VIP on tunl0 (TUN) or lo (DR) with ARP suppressed, or the director as
// default gateway (NAT); all of it restored at boot.
import type { Play, Playbook, Task, TaskContext } from '../src/core/types.js';
import { argv } from '../src/core/shell.js';
import { command, kernelModule, sourceBuild, sysctl } from '../src/modules/index.js';
import { reloadSystemd } from './lib/handlers.js';
import { ModuleError } from '../src/modules/errors.js';
import { ipAddress } from '../src/lvs/ip-address.js';
import { defaultRoute } from '../src/lvs/default-route.js';
import { artifactVar } from '../src/lvs/artifacts.js';
import { forwardingOf, lvsSysctlFile, realServerRoles, vipsOf } from '../src/lvs/model.js';
import { bootUnitTasks } from './lib/boot-unit.js';

/** The director's address real servers route through in NAT mode. */
function natGateway(ctx: TaskContext): string {
  const own = ctx.vars.nat_gateway;
  if (typeof own === 'string') return own;
  // Two directors (lvs.ha): the floating gateway follows the master, so the replies do too.
  const floating = ctx.inventory?.lvs?.ha?.natGateway;
  if (floating) return floating;
  for (const name of ctx.inventory?.groups.get('directors') ?? []) {
    const dip = ctx.inventory?.hosts.get(name)?.vars.dip;
    if (typeof dip === 'string') return dip;
  }
  throw new ModuleError('lvs', `${ctx.host}: NAT needs the director's dip (or nat_gateway) as default gateway`);
}

export function realServerTasks(ctx: TaskContext): Task[] {
  const roles = realServerRoles(ctx);
  if (roles.length === 0) return [];
  const f = ctx.facts;
  const fwd = forwardingOf(ctx, roles);
  const vips = vipsOf(roles.map((r) => r.service));
  const rip = String(ctx.vars.rip ?? roles[0]!.rs.address);
  const persistFile = lvsSysctlFile(f);
  const sc = (name: string, key: string, value: string) => sysctl({ name, key, value, persistFile });
  const tasks: Task[] = [sc('a real server does not route', 'net.ipv4.ip_forward', '0')];
  const bootSysctls: { key: string; value: string }[] = [];
  const noarp: { vip: string; rip: string }[] = [];
  const modules: string[] = [];

  if (fwd === 'nat') {
    const gw = natGateway(ctx);
    // Undoable: a rollback puts back the gateway it replaced (e.g. the director's dip after an HA run).
    tasks.push(defaultRoute({ name: `default route via the director ${gw}`, via: gw }));
    // A redirect from anywhere must not send replies around the director (they would not be un-NATed).
    tasks.push(sc('NAT: ignore ICMP redirects', 'net.ipv4.conf.all.accept_redirects', '0'));
    tasks.push(...bootUnitTasks(ctx, {
      name: 'lvs-realserver', role: 'real server', vipDev: 'lo', vips: [], gateway: gw,
      sysctls: [{ key: 'net.ipv4.conf.all.accept_redirects', value: '0' }],
    }));
    return tasks;
  }

  // ARP: the VIP must be answered by the director only.
  if (f.arpSysctls) {
    tasks.push(sc('answer ARP only for addresses of the asking interface', 'net.ipv4.conf.all.arp_ignore', '1'));
    tasks.push(sc('announce the real IP, never the VIP', 'net.ipv4.conf.all.arp_announce', '2'));
    bootSysctls.push({ key: 'net.ipv4.conf.all.arp_ignore', value: '1' }, { key: 'net.ipv4.conf.all.arp_announce', value: '2' });
  } else if (ctx.vars.arp_method === 'arptables') {
    for (const vip of vips) {
      tasks.push(command({
        name: `arptables: drop ARP for ${vip}`,
        cmd: `PATH="$PATH:/sbin:/usr/sbin"; ${argv('arptables', '-A', 'IN', '-d', vip, '-j', 'DROP')} && ${argv('arptables', '-A', 'OUT', '-s', vip, '-j', 'mangle', '--mangle-ip-s', rip)} && (service arptables_jf save || true)`,
        unless: `PATH="$PATH:/sbin:/usr/sbin"; arptables -L -n | grep -q -- ${argv(vip)}`,
      }));
    }
  } else {
    // Kernels older than 2.4.26/2.6.4 have no arp_ignore: the seed's noarp module, built from source.
    const src = artifactVar(ctx, 'noarp_source');
    if (!src) {
      throw new ModuleError('lvs', `${ctx.host}: kernel ${f.kernel.release} has no arp_ignore/arp_announce; set noarp_source (noarp tarball + sha256) or arp_method: arptables`);
    }
    tasks.push(sourceBuild({
      name: 'noarp', artifact: src.path, sha256: src.sha256, kind: src.kind,
      installedCheck: '[ -x /usr/local/sbin/noarpctl ]',
      buildScript: './configure && make',
      installScript: 'make install DESTDIR="$STAGE"',
    }));
    tasks.push(kernelModule({ name: 'noarp' }));
    modules.push('noarp');
    for (const vip of vips) {
      noarp.push({ vip, rip });
      tasks.push(command({
        name: `noarp: hide ${vip}`,
        cmd: argv('/usr/local/sbin/noarpctl', 'add', vip, rip),
        unless: `/usr/local/sbin/noarpctl list | grep -q -- ${argv(vip)}`,
      }));
    }
  }

  let vipDev = 'lo';
  if (fwd === 'tun') {
    vipDev = 'tunl0';
    modules.push('ipip');
    tasks.push(kernelModule({ name: 'ipip' }));
    if (f.arpSysctls) {
      // Decapsulated packets arrive on tunl0 with the client's source: strict rp_filter would drop them.
      tasks.push(sc('loose reverse-path filter (all)', 'net.ipv4.conf.all.rp_filter', '0'));
      tasks.push(sc('loose reverse-path filter (tunl0)', 'net.ipv4.conf.tunl0.rp_filter', '0'));
      bootSysctls.push({ key: 'net.ipv4.conf.all.rp_filter', value: '0' }, { key: 'net.ipv4.conf.tunl0.rp_filter', value: '0' });
    }
  }
  for (const vip of vips) tasks.push(ipAddress({ name: `VIP ${vip}/32 on ${vipDev}`, dev: vipDev, address: vip, linkUp: vipDev === 'tunl0' }));
  tasks.push(...bootUnitTasks(ctx, {
    name: 'lvs-realserver', role: 'real server', vipDev, vips, linkUp: vipDev === 'tunl0', modules, sysctls: bootSysctls, noarp,
  }));
  return tasks;
}

export const realServerPlay: Play = {
  name: 'LVS real servers',
  hosts: 'real_servers',
  tasks: realServerTasks,
  handlers: reloadSystemd,
};

const playbook: Playbook = { name: 'realserver', description: 'LVS real servers (TUN, DR, NAT)', plays: [realServerPlay] };
export default playbook;
