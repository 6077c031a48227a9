// One call to get (or remove) the LVS test lab on VMs: client, director, rs1..rsN
// and an inventory.yaml provision can run against as it is.
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Forwarding } from '../../inventory/types.js';
import type { LabState } from '../driver.js';
import { vmDriver, type VmHostDriverState } from './driver.js';
import { inventoryYaml, lvsLabHosts, lvsSection, VIP } from './layout.js';
import type { Accel } from './qemu.js';

export interface VmLabOptions {
  name?: string;
  realServers?: number;
  dir?: string;
  accel?: Accel;
  forwarding?: Forwarding;
  memoryMb?: number;
  log?: (line: string) => void;
}

export interface VmLab {
  dir: string;
  inventory: string;
  hosts: { name: string; sshPort: number; lanAddress: string }[];
  timings: Record<string, number>;
  state: LabState;
}

export const defaultVmLabDir = (name: string) => join(process.env.PROVISION_LAB_DIR ?? join(tmpdir(), 'provision-lab'), `vm-${name}`);

export async function vmLabUp(opts: VmLabOptions = {}): Promise<VmLab> {
  const name = opts.name ?? 'lvs';
  const dir = resolve(opts.dir ?? defaultVmLabDir(name));
  const forwarding = opts.forwarding ?? 'tun';
  const hosts = lvsLabHosts({ realServers: opts.realServers, forwarding });
  const state = await vmDriver.up({ name, hosts, dir }, { accel: opts.accel, memoryMb: opts.memoryMb, log: opts.log });
  const inventory = join(dir, 'inventory.yaml');
  const header = [
    `VM lab "${name}" (${state.hosts.length} VMs, forwarding ${forwarding}), written by the provision VM lab.`,
    `SSH goes to 127.0.0.1:<port>; host keys are in ./known_hosts. The VIP ${VIP} is not configured by the lab.`,
  ].join('\n');
  const realServers = state.hosts.filter((h) => h.groups.includes('real_servers')).map((h) => h.name);
  await writeFile(
    inventory,
    inventoryYaml(
      state.hosts.map((h) => ({ name: h.name, groups: h.groups, vars: h.vars, sshPort: h.port })),
      lvsSection(realServers, forwarding),
      header,
    ),
  );
  return {
    dir,
    inventory,
    hosts: state.hosts.map((h) => ({
      name: h.name,
      sshPort: h.port,
      lanAddress: (h.driver as unknown as VmHostDriverState).lanAddresses[0]!.split('/')[0]!,
    })),
    timings: state.timings,
    state,
  };
}

/** Stops every VM of the lab and removes its directory (by name in the default place, or by dir). */
export async function vmLabDown(name: string, dir?: string): Promise<void> {
  await vmDriver.down(dir ?? defaultVmLabDir(name));
}
