// The default VM lab: a client, a director and N real servers on one LAN, and
// the inventory provision runs against it. The lab wires the network; the VIP,
// IPVS rules, ARP sysctls and (NAT) forwarding/gateways are the playbooks' job.
import { dump } from 'js-yaml';
import type { Forwarding } from '../../lvs/types.js';
import type { LabHostSpec } from '../driver.js';

export const LAN_SUBNET = '10.0.0.0/24';
export const LAN_INTERFACE = 'eth1';
export const VIP = '10.0.0.18';
export const DIP = '10.0.0.15';
export const CLIENT_ADDRESS = '10.0.0.10';
/** NAT only: the client sits on its own subnet, reached through the director. */
export const NAT_CLIENT_SUBNET = '10.0.1.0/24';
export const NAT_CLIENT_ADDRESS = '10.0.1.10';
export const NAT_DIRECTOR_CLIENT_SIDE = '10.0.1.1';
/** Backup directors (--directors 2..3): below the DIP, clear of the real servers (.16 up) and the VIP. */
export const BACKUP_DIRECTOR_DIPS = ['10.0.0.13', '10.0.0.12'];
/** lvs.ha: VRRP router id, and the floating addresses that follow the master in NAT. */
export const VRRP_ROUTER_ID = 51;
export const HA_NAT_GATEWAY = '10.0.0.14';
export const HA_NAT_CLIENT_GATEWAY = '10.0.1.2';

/** rs1 = 10.0.0.16, rs2 = 10.0.0.17, then skip the VIP (.18): rs3 = .19, ... */
export function realServerAddress(i: number): string {
  const host = 16 + (i - 1) + (i >= 3 ? 1 : 0);
  if (host > 254) throw new RangeError(`no LAN address for rs${i}`);
  return `10.0.0.${host}`;
}

/**
 * Driver hints in LabHostSpec.vars (prefixed lab_, never written to the inventory):
 * lab_lan_addresses (CIDRs on eth1) and lab_routes (`ip route` arguments).
 */
export interface VmLabHints {
  lab_lan_addresses: string[];
  lab_routes?: string[];
  /** A backup director: in the inventory only when the layout is HA. */
  lab_backup_director?: boolean;
}

export function lvsLabHosts(opts: { realServers?: number; forwarding?: Forwarding; directors?: number; ha?: boolean } = {}): LabHostSpec[] {
  const n = opts.realServers ?? 2;
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new RangeError(`realServers must be 1..200, got ${n}`);
  const directors = opts.directors ?? 1;
  if (!Number.isInteger(directors) || directors < 1 || directors > 1 + BACKUP_DIRECTOR_DIPS.length)
    throw new RangeError(`directors must be 1..${1 + BACKUP_DIRECTOR_DIPS.length}, got ${directors}`);
  const nat = opts.forwarding === 'nat';
  // HA NAT: the client reaches the real servers through the floating gateway, which follows the master.
  const clientGateway = opts.ha ? HA_NAT_CLIENT_GATEWAY : NAT_DIRECTOR_CLIENT_SIDE;
  const hosts: LabHostSpec[] = [
    {
      name: 'client',
      groups: ['clients'],
      vars: nat
        ? {
            lan_interface: LAN_INTERFACE,
            lan_address: NAT_CLIENT_ADDRESS,
            lab_lan_addresses: [`${NAT_CLIENT_ADDRESS}/24`],
            lab_routes: [`${LAN_SUBNET} via ${clientGateway}`],
          }
        : { lan_interface: LAN_INTERFACE, lan_address: CLIENT_ADDRESS, lab_lan_addresses: [`${CLIENT_ADDRESS}/24`] },
    },
    {
      name: 'director',
      groups: ['directors'],
      vars: {
        dip: DIP,
        lan_interface: LAN_INTERFACE,
        lab_lan_addresses: nat ? [`${DIP}/24`, `${NAT_DIRECTOR_CLIENT_SIDE}/24`] : [`${DIP}/24`],
      },
    },
  ];
  for (let i = 2; i <= directors; i++) {
    const dip = BACKUP_DIRECTOR_DIPS[i - 2]!;
    hosts.push({
      name: `director${i}`,
      groups: ['directors'],
      vars: { dip, lan_interface: LAN_INTERFACE, lab_lan_addresses: [`${dip}/24`], lab_backup_director: true },
    });
  }
  for (let i = 1; i <= n; i++) {
    const rip = realServerAddress(i);
    hosts.push({ name: `rs${i}`, groups: ['real_servers'], vars: { rip, lan_interface: LAN_INTERFACE, lab_lan_addresses: [`${rip}/24`] } });
  }
  return hosts;
}

/** The lab's lvs section; `ha` (two or more directors) adds lvs.ha with the lab's floating addresses. */
export function lvsSection(realServers: string[], forwarding: Forwarding, ha = false): Record<string, unknown> {
  return {
    ...(ha
      ? {
          ha: {
            virtual_router_id: VRRP_ROUTER_ID,
            ...(forwarding === 'nat' ? { nat_gateway: HA_NAT_GATEWAY, floating: [`${HA_NAT_CLIENT_GATEWAY}/24`] } : {}),
          },
        }
      : {}),
    services: [
      {
        name: 'web',
        vip: VIP,
        port: 80,
        protocol: 'tcp',
        scheduler: 'rr',
        forwarding,
        real_servers: realServers.map((host) => ({ host, port: 80, weight: 1 })),
        health: { monitor: 'mon', kind: 'http', url: '/', interval: 5, timeout: 3 },
      },
    ],
  };
}

export interface InventoryHost {
  name: string;
  groups: string[];
  vars?: Record<string, unknown>;
  sshPort: number;
}

const GROUP_ORDER = ['clients', 'directors', 'real_servers'];

/** inventory.yaml text; paths are relative to the lab dir (the inventory's own dir). */
export function inventoryYaml(hostsIn: InventoryHost[], lvs: Record<string, unknown> | undefined, header: string): string {
  // Backup directors belong to the inventory of an HA layout only (lvs.ha present).
  const hosts = hostsIn.filter((h) => !h.vars?.lab_backup_director || (lvs && 'ha' in lvs));
  const children: Record<string, { hosts: Record<string, Record<string, unknown>> }> = {};
  const groups = [...new Set([...GROUP_ORDER, ...hosts.flatMap((h) => h.groups)])];
  for (const g of groups) {
    const members = hosts.filter((h) => h.groups.includes(g));
    if (members.length === 0) continue;
    children[g] = { hosts: {} };
    for (const h of members) {
      const own = Object.fromEntries(Object.entries(h.vars ?? {}).filter(([k]) => !k.startsWith('lab_')));
      children[g].hosts[h.name] = {
        ansible_host: '127.0.0.1',
        ansible_port: h.sshPort,
        ansible_user: 'root',
        ansible_ssh_private_key_file: './id_ed25519',
        ...own,
      };
    }
  }
  const allVars: Record<string, unknown> = { provision_known_hosts_file: './known_hosts' };
  if (lvs) allVars.lvs = lvs;
  const doc = { all: { vars: allVars, children } };
  return `${header
    .split('\n')
    .map((l) => `# ${l}`.trimEnd())
    .join('\n')}\n${dump(doc, { lineWidth: 120, noRefs: true })}`;
}
