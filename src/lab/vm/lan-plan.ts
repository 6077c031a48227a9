// Each VM's LAN plan (addresses and routes on the lab LAN), read from its inventory vars and
// recorded in the lab state: a boot, a relayout and a snapshot restore all set it.
import type { LabHostSpec } from '../driver.js';
import type { VmHost } from './host-state.js';

export function lanPlan(h: LabHostSpec, index: number): { addresses: string[]; routes: string[] } {
  const v = h.vars ?? {};
  const strings = (x: unknown) => (Array.isArray(x) ? x.map(String) : []);
  let addresses = strings(v.lab_lan_addresses);
  if (addresses.length === 0) {
    const own = v.dip ?? v.rip ?? v.lan_address;
    addresses = [typeof own === 'string' ? `${own}/24` : `10.0.0.${100 + index}/24`];
  }
  return { addresses, routes: strings(v.lab_routes) };
}

const networkOf = (cidr: string) => {
  const [addr, bits] = cidr.split('/');
  const n = Number(bits ?? 32);
  const value = addr!.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const net = n === 0 ? 0 : Math.floor(value / 2 ** (32 - n)) * 2 ** (32 - n);
  return `${[24, 16, 8, 0].map((s) => Math.floor(net / 2 ** s) % 256).join('.')}/${n}`;
};

/** state.subnet: the distinct networks of every host's LAN addresses, e.g. "10.0.0.0/24,10.0.1.0/24". */
export const subnetsOf = (addresses: string[][]) => [...new Set(addresses.flat().map(networkOf))].join(',');

/** Records a host's LAN plan and inventory vars in the lab state (boot, relayout, restore). */
export function setLanPlan(h: VmHost, plan: { vars?: Record<string, unknown>; lanAddresses: string[]; routes: string[] }): void {
  Object.assign(h.driver, { lanAddresses: plan.lanAddresses, routes: plan.routes });
  h.vars = plan.vars;
}
