// One call to get (or remove) the LVS test lab on VMs: client, director, rs1..rsN
// and an inventory.yaml provision can run against as it is.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../core/atomic-file.js';
import { join, resolve } from 'node:path';
import type { Forwarding } from '../../lvs/types.js';
import type { VmLabState } from '../driver.js';
import { defaultLabBaseDir } from '../base-dir.js';
import { LabError, LabNotFoundError } from '../errors.js';
import { readDriverState } from '../state.js';
import { vmDriver } from './driver.js';
import { inventoryYaml, lvsLabHosts, lvsSection, VIP } from './layout.js';
import type { Accel } from './qemu.js';

export interface VmLabOptions {
  name?: string;
  realServers?: number;
  dir?: string;
  accel?: Accel;
  forwarding?: Forwarding;
  /** Director VMs: director, then director2, director3 (backups). */
  directors?: number;
  /** The inventory lists every director with lvs.ha (default: when there are two or more). */
  ha?: boolean;
  memoryMb?: number;
  log?: (line: string) => void;
}

export interface VmLab {
  dir: string;
  inventory: string;
  /** The forwarding method of the inventory (and, for NAT, of the LAN layout). */
  forwarding: Forwarding;
  /** The inventory has lvs.ha and every director (else only `director`). */
  ha: boolean;
  hosts: { name: string; sshPort: number; lanAddress: string }[];
  timings: Record<string, number>;
  state: VmLabState;
}

/** The same place as the container lab's labDir(name): one default for every lab. */
export const defaultVmLabDir = (name: string) => join(defaultLabBaseDir(), name);

export async function vmLabUp(opts: VmLabOptions = {}): Promise<VmLab> {
  const name = opts.name ?? 'lvs';
  const dir = resolve(opts.dir ?? defaultVmLabDir(name));
  const forwarding = opts.forwarding ?? 'tun';
  const directors = opts.directors ?? 1;
  const ha = opts.ha ?? directors >= 2;
  if (ha && directors < 2) throw new LabError('an HA lab needs two or more directors (--directors 2)', { path: dir });
  const hosts = lvsLabHosts({ realServers: opts.realServers, forwarding, directors, ha });
  const state = await vmDriver.up({ name, hosts, dir }, { accel: opts.accel, memoryMb: opts.memoryMb, log: opts.log });
  return labFor(state, { forwarding, ha });
}

const layoutFile = (dir: string) => join(dir, 'layout.json');
const snapshotLayoutFile = (dir: string, tag: string) => join(dir, `snapshot-${tag}.layout.json`);

/** Writes the lab's inventory.yaml (and layout.json) for `forwarding` and describes the lab. */
async function labFor(state: VmLabState, layout: LabLayout, write = true): Promise<VmLab> {
  const { forwarding } = layout;
  const ha = layout.ha ?? false;
  const inventory = join(state.dir, 'inventory.yaml');
  const header = [
    `VM lab "${state.name}" (${state.hosts.length} VMs, forwarding ${forwarding}${ha ? ', two directors with lvs.ha' : ''}), written by the provision VM lab.`,
    `SSH goes to 127.0.0.1:<port>; host keys are in ./known_hosts. The VIP ${VIP} is not configured by the lab.`,
  ].join('\n');
  const realServers = state.hosts.filter((h) => h.groups.includes('real_servers')).map((h) => h.name);
  const text = inventoryYaml(
    state.hosts.map((h) => ({ name: h.name, groups: h.groups, vars: h.vars, sshPort: h.port })),
    lvsSection(realServers, forwarding, ha),
    header,
  );
  if (write) {
    writeFileAtomic(inventory, text);
    writeFileAtomic(layoutFile(state.dir), `${JSON.stringify({ forwarding, ha } satisfies LabLayout)}\n`);
  }
  return {
    dir: state.dir,
    inventory,
    forwarding,
    ha,
    hosts: state.hosts.map((h) => ({
      name: h.name,
      sshPort: h.port,
      lanAddress: h.driver.lanAddresses[0]!.split('/')[0]!,
    })),
    timings: state.timings,
    state,
  };
}

interface LabLayout {
  forwarding: Forwarding;
  /** Absent in labs written before backup directors: false. */
  ha?: boolean;
}

async function readLayout(file: string): Promise<LabLayout> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new LabNotFoundError(`no lab layout in ${file}`, { path: file });
  });
  const layout = JSON.parse(text) as LabLayout;
  if (!['tun', 'dr', 'nat'].includes(layout.forwarding)) throw new LabError(`bad forwarding in ${file}: ${JSON.stringify(layout.forwarding)}`, { path: file });
  return layout;
}

/** The running VM lab in `dir`, as vmLabUp (or the last restore) left it. */
export async function vmLabOpen(dir: string): Promise<VmLab> {
  const state = await readDriverState(resolve(dir), 'vm');
  if (!state) throw new LabNotFoundError(`no lab in ${dir}`, { path: dir });
  return labFor(state, await readLayout(layoutFile(state.dir)), false);
}

/** Saves every VM of the lab as `tag` (seconds; the VMs pause meanwhile, then run on). Bytes per host. */
export async function vmLabSave(dir: string, tag: string): Promise<Record<string, number>> {
  const bytes = await vmDriver.saveSnapshot(dir, tag);
  writeFileAtomic(snapshotLayoutFile(dir, tag), `${JSON.stringify(await readLayout(layoutFile(dir)))}\n`);
  return bytes;
}

/** Returns every VM to the moment saved as `tag`, and the inventory to the one it had then. */
export async function vmLabRestore(dir: string, tag: string): Promise<VmLab> {
  await vmLabOpen(dir); // "no lab" before anything else
  const state = await vmDriver.restoreSnapshot(dir, tag); // checks the tag and that every VM was saved
  return labFor(state, await readLayout(snapshotLayoutFile(dir, tag)));
}

/**
 * Re-addresses the running lab for another forwarding method (NAT puts the client on its
 * own subnet behind the director; TUN and DR share one LAN) and rewrites its inventory.
 * `ha` (default: as it was) lists every director with lvs.ha; in NAT the client then routes
 * through the floating gateway instead of the first director's own address.
 */
export async function vmLabRelayout(dir: string, forwarding: Forwarding, opts: { ha?: boolean } = {}): Promise<VmLab> {
  const open = await vmLabOpen(dir);
  const count = (g: string) => open.state.hosts.filter((h) => h.groups.includes(g)).length;
  const ha = opts.ha ?? open.ha;
  if (ha && count('directors') < 2) throw new LabError(`lab ${open.state.name} has one director: no HA layout`, { path: dir });
  const hosts = lvsLabHosts({ realServers: count('real_servers'), forwarding, directors: count('directors'), ha });
  return labFor(await vmDriver.relayout(dir, hosts), { forwarding, ha });
}

/** Stops every VM of the lab and removes its directory (by name in the default place, or by dir). */
export async function vmLabDown(name: string, dir?: string): Promise<void> {
  await vmDriver.down(dir ?? defaultVmLabDir(name));
}

/** Returns one VM to the moment saved as `tag` (the others run on); the inventory stays as it is. */
export async function vmLabRestoreHost(dir: string, host: string, tag: string): Promise<VmLab> {
  const open = await vmLabOpen(dir);
  return labFor(await vmDriver.restoreHost(dir, host, tag), { forwarding: open.forwarding, ha: open.ha }, false);
}
