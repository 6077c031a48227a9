// What the inventory's lvs section means for one host: the director's VIPs and interface, a real
// server's services and forwarding, the mon watches. One source of truth: a service's
// `forwarding` drives the director's rules, the alert's re-add flags and the real server's setup.
import type { HostFacts, TaskContext } from '../core/types.js';
import type { Inventory } from '../inventory/types.js';
import type { Forwarding, LvsSpec, RealServerSpec, VirtualServiceSpec } from './types.js';
import { ModuleError } from '../modules/errors.js';

export function lvsOf(ctx: TaskContext): LvsSpec {
  const lvs = ctx.inventory?.lvs;
  if (!lvs || lvs.services.length === 0) throw new ModuleError('lvs', 'the inventory has no lvs.services (a var of all)');
  return lvs;
}

/** The LVS playbooks' preflight: they configure the cluster the inventory's `lvs` section describes. */
export function lvsPreflight(inventory: Inventory): string[] {
  return inventory.lvs?.services.length ? [] : ['the inventory has no lvs.services (a var of all): inventory/example.yaml shows one'];
}

/** Legacy Red Hat (SysV init, network-scripts): the seed's CentOS 4 / RHEL 3 hosts. */
export const isLegacyEl = (f: HostFacts) => f.os.family === 'redhat' && f.init === 'sysv';

/** Where LVS sysctls persist: legacy Red Hat reads only /etc/sysctl.conf at boot. */
export const lvsSysctlFile = (f: HostFacts) => (isLegacyEl(f) ? '/etc/sysctl.conf' : '/etc/sysctl.d/90-lvs.conf');

export function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

/** The kernel modules a director's services need: ip_vs and one per scheduler. */
export function ipvsModules(lvs: LvsSpec): string[] {
  return uniq(['ip_vs', ...lvs.services.map((s) => `ip_vs_${s.scheduler}`)]);
}

/** Director sysctls that exist only once ip_vs is loaded (so boot scripts set them after modprobe). */
export const IPVS_SYSCTLS = [{ key: 'net.ipv4.vs.expire_nodest_conn', value: '1' }];

export function vipsOf(services: VirtualServiceSpec[]): string[] {
  return uniq(services.map((s) => s.vip).filter(Boolean));
}

/** The director's LAN interface: the inventory's lan_interface, else the one holding its dip, else the default route's. */
export function directorInterface(ctx: TaskContext): string {
  const named = ctx.vars.lan_interface;
  if (typeof named === 'string' && named) return named;
  const dip = ctx.vars.dip;
  if (typeof dip === 'string') {
    const hit = ctx.facts.interfaces.find((i) => i.ipv4.some((c) => c.split('/')[0] === dip));
    if (hit) return hit.name;
  }
  if (ctx.facts.defaultInterface) return ctx.facts.defaultInterface;
  throw new ModuleError('lvs', `${ctx.host}: cannot tell the LAN interface (set lan_interface, or dip to an address of this host)`);
}

export interface RealServerRole {
  service: VirtualServiceSpec;
  rs: RealServerSpec;
}

/** Services this host serves as a real server (by inventory name, or by its rip). */
export function realServerRoles(ctx: TaskContext): RealServerRole[] {
  const rip = ctx.vars.rip;
  return lvsOf(ctx).services.flatMap((service) =>
    service.realServers.filter((rs) => rs.host === ctx.host || (rs.host === undefined && rs.address === rip)).map((rs) => ({ service, rs })),
  );
}

/** One forwarding method per real server: TUN and DR put the VIP on different devices. */
export function forwardingOf(ctx: TaskContext, roles: RealServerRole[]): Forwarding {
  const methods = uniq(roles.map((r) => r.service.forwarding));
  if (methods.length !== 1) {
    throw new ModuleError('lvs', `${ctx.host} is a real server of services with different forwarding (${methods.join(', ')}); use one method per real server`);
  }
  return methods[0]!;
}

export function ipvsRulesPath(f: HostFacts): string {
  return f.os.family === 'redhat' ? '/etc/sysconfig/ipvsadm' : '/etc/ipvsadm.rules';
}

export interface MonWatch {
  group: string;
  service: string;
  host?: string;
  address: string;
  port: number;
  vip: string;
  vport: number;
  protocol: string;
  forwarding: Forwarding;
  weight: number;
  interval: number;
  kind: string;
  checkName: string;
  monitor: string;
}

/**
 * Names made unique: the first of equal names keeps it, later ones get _2, _3, ... (skipping any
 * name already in the list), so names that never collide stay as they are.
 */
export function uniqueNames(names: string[]): string[] {
  const all = new Set(names);
  const given = new Set<string>();
  return names.map((base) => {
    let name = base;
    for (let n = 2; given.has(name) || (name !== base && all.has(name)); n++) name = `${base}_${n}`;
    given.add(name);
    return name;
  });
}

/**
 * mon watches: one hostgroup per (service, real server) watched by mon. Group names are
 * service_host with non-alphanumerics as _, which can collide (rs-1 and rs_1; a + b_c and a_b + c);
 * mon refuses a whole mon.cf with a duplicate group, hence uniqueNames.
 */
export function monWatches(lvs: LvsSpec): MonWatch[] {
  const watches = lvs.services
    .filter((s) => s.health.monitor === 'mon' && s.protocol !== 'fwmark')
    .flatMap((s) =>
      s.realServers.map((rs) => {
        const h = s.health;
        const monitor = h.kind === 'http' ? `http.monitor -p ${rs.port} -t ${h.timeout} -u ${h.url}` : `tcp.monitor -p ${rs.port} -t ${h.timeout}`;
        return {
          group: `${s.name}_${(rs.host ?? rs.address).replace(/[^A-Za-z0-9_]/g, '_')}`,
          service: s.name,
          host: rs.host,
          address: rs.address,
          port: rs.port,
          vip: s.vip,
          vport: s.port,
          protocol: s.protocol,
          forwarding: s.forwarding,
          weight: rs.weight,
          interval: h.interval,
          kind: h.kind,
          checkName: h.kind,
          monitor,
        };
      }),
    );
  const groups = uniqueNames(watches.map((w) => w.group));
  return watches.map((w, i) => ({ ...w, group: groups[i]! }));
}

export interface KeepalivedRealServer {
  address: string;
  port: number;
  weight: number;
  host?: string;
}
export interface KeepalivedService {
  name: string;
  /** "VIP PORT" or "fwmark N": what follows `virtual_server`. */
  key: string;
  delayLoop: number;
  lbAlgo: string;
  /** keepalived's spelling of the forwarding method. */
  lbKind: 'NAT' | 'DR' | 'TUN';
  protocol: 'TCP' | 'UDP';
  persistence?: number;
  check: { kind: 'http' | 'tcp' | 'dns'; url: string; timeout: number; query?: string };
  http: boolean;
  /** A DNS_CHECK (udp services): type A query for check.query. */
  dns: boolean;
  realServers: KeepalivedRealServer[];
}

/**
 * keepalived virtual_server blocks for the services whose health.monitor is keepalived. Its
 * checkers replace mon + lvs.alert and keepalived owns those entries of the IPVS table.
 */
export function keepalivedServices(lvs: LvsSpec): KeepalivedService[] {
  return lvs.services
    .filter((s) => s.health.monitor === 'keepalived')
    .map((s) => ({
      name: s.name,
      key: s.protocol === 'fwmark' ? `fwmark ${s.fwmark}` : `${s.vip} ${s.port}`,
      delayLoop: s.health.interval,
      lbAlgo: s.scheduler,
      lbKind: ({ nat: 'NAT', dr: 'DR', tun: 'TUN' } as const)[s.forwarding],
      // fwmark is refused for keepalived by the inventory check; udp services carry a DNS_CHECK.
      protocol: s.protocol === 'udp' ? 'UDP' : 'TCP',
      http: s.health.kind === 'http',
      dns: s.health.kind === 'dns',
      ...(s.persistence !== undefined ? { persistence: s.persistence } : {}),
      check: {
        kind: s.health.kind,
        url: s.health.url,
        timeout: s.health.timeout,
        ...(s.health.query !== undefined ? { query: s.health.query } : {}),
      },
      realServers: s.realServers.map((rs) => ({ address: rs.address, port: rs.port, weight: rs.weight, ...(rs.host ? { host: rs.host } : {}) })),
    }));
}

/** True when keepalived owns this service's IPVS entries (the live-table task and boot rules leave it alone). */
export const ownedByKeepalived = (s: VirtualServiceSpec) => s.health.monitor === 'keepalived';

/** The inventory's services split by who keeps their IPVS entries: provision, or keepalived. */
export function servicesByOwner(lvs: LvsSpec): { mine: LvsSpec; keepalived: LvsSpec } {
  return {
    mine: { ...lvs, services: lvs.services.filter((s) => !ownedByKeepalived(s)) },
    keepalived: { ...lvs, services: lvs.services.filter(ownedByKeepalived) },
  };
}

/** keepalived's VRRP instance on one director of an lvs.ha cluster (keepalived.conf's vrrp_instance). */
export interface VrrpInstance {
  name: string;
  /** MASTER for the preferred director when preempting; BACKUP otherwise (nopreempt requires it). */
  state: 'MASTER' | 'BACKUP';
  interface: string;
  virtualRouterId: number;
  priority: number;
  advertInterval: number;
  preempt: boolean;
  /** Unicast: this director's dip and the other directors' dips; absent: multicast. */
  unicast?: { src: string; peers: string[] };
  /** What follows the master: the VIPs (/32), the NAT gateway (/32), the floating CIDRs. */
  addresses: string[];
  sync?: { interface: string; id: number };
}

/** This director's vrrp_instance, or undefined when the cluster has one director (no lvs.ha). */
export function vrrpInstance(ctx: TaskContext): VrrpInstance | undefined {
  const lvs = lvsOf(ctx);
  const ha = lvs.ha;
  if (!ha) return undefined;
  if (isLegacyEl(ctx.facts)) {
    // That era's keepalived (1.1.x) knows neither lvs_sync_daemon's syntax nor these options; a
    // file it cannot read would leave both directors without VRRP.
    throw new ModuleError(
      'lvs',
      `${ctx.host}: lvs.ha is refused on legacy Red Hat (${ctx.facts.os.id} ${ctx.facts.os.version}, SysV): its keepalived cannot read the VRRP and sync configuration provision writes; run one director there (remove lvs.ha) or upgrade the directors`,
    );
  }
  const priority = ha.priorities[ctx.host];
  if (priority === undefined) throw new ModuleError('lvs', `${ctx.host} is not in group directors, which lvs.ha's VRRP peers are`);
  const iface = ha.interface ?? directorInterface(ctx);
  const best = Math.max(...Object.values(ha.priorities));
  const dipOf = (h: string) => ctx.inventory?.hosts.get(h)?.vars.dip;
  return {
    name: `LVS_${ha.virtualRouterId}`,
    state: ha.preempt && priority === best ? 'MASTER' : 'BACKUP',
    interface: iface,
    virtualRouterId: ha.virtualRouterId,
    priority,
    advertInterval: ha.advertInterval,
    preempt: ha.preempt,
    ...(ha.unicast
      ? {
          unicast: {
            src: String(ctx.vars.dip),
            peers: Object.keys(ha.priorities)
              .filter((h) => h !== ctx.host)
              .map((h) => String(dipOf(h))),
          },
        }
      : {}),
    addresses: [...vipsOf(lvs.services).map((v) => `${v}/32`), ...(ha.natGateway ? [`${ha.natGateway}/32`] : []), ...ha.floating],
    ...(ha.sync.enabled ? { sync: { interface: ha.sync.interface ?? iface, id: ha.sync.id } } : {}),
  };
}
