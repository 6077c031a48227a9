// One call to get (or remove) the LVS test lab on VMs: client, director, rs1..rsN
// and an inventory.yaml provision can run against as it is.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../core/atomic-file.js';
import { join, resolve } from 'node:path';
import type { Forwarding } from '../../inventory/types.js';
import type { LabState } from '../driver.js';
import { defaultLabBaseDir } from '../base-dir.js';
import { LabError, LabNotFoundError } from '../errors.js';
import { readState } from '../state.js';
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
  /** The forwarding method of the inventory (and, for NAT, of the LAN layout). */
  forwarding: Forwarding;
  hosts: { name: string; sshPort: number; lanAddress: string }[];
  timings: Record<string, number>;
  state: LabState;
}

/** The same place as the container lab's labDir(name): one default for every lab. */
export const defaultVmLabDir = (name: string) => join(defaultLabBaseDir(), name);

export async function vmLabUp(opts: VmLabOptions = {}): Promise<VmLab> {
  const name = opts.name ?? 'lvs';
  const dir = resolve(opts.dir ?? defaultVmLabDir(name));
  const forwarding = opts.forwarding ?? 'tun';
  const hosts = lvsLabHosts({ realServers: opts.realServers, forwarding });
  const state = await vmDriver.up({ name, hosts, dir }, { accel: opts.accel, memoryMb: opts.memoryMb, log: opts.log });
  return labFor(state, forwarding);
}

const layoutFile = (dir: string) => join(dir, 'layout.json');
const snapshotLayoutFile = (dir: string, tag: string) => join(dir, `snapshot-${tag}.layout.json`);

/** Writes the lab's inventory.yaml (and layout.json) for `forwarding` and describes the lab. */
async function labFor(state: LabState, forwarding: Forwarding, write = true): Promise<VmLab> {
  const inventory = join(state.dir, 'inventory.yaml');
  const header = [
    `VM lab "${state.name}" (${state.hosts.length} VMs, forwarding ${forwarding}), written by the provision VM lab.`,
    `SSH goes to 127.0.0.1:<port>; host keys are in ./known_hosts. The VIP ${VIP} is not configured by the lab.`,
  ].join('\n');
  const realServers = state.hosts.filter((h) => h.groups.includes('real_servers')).map((h) => h.name);
  const text = inventoryYaml(
    state.hosts.map((h) => ({ name: h.name, groups: h.groups, vars: h.vars, sshPort: h.port })),
    lvsSection(realServers, forwarding),
    header,
  );
  if (write) {
    writeFileAtomic(inventory, text);
    writeFileAtomic(layoutFile(state.dir), `${JSON.stringify({ forwarding } satisfies LabLayout)}\n`);
  }
  return {
    dir: state.dir,
    inventory,
    forwarding,
    hosts: state.hosts.map((h) => ({
      name: h.name,
      sshPort: h.port,
      lanAddress: (h.driver as unknown as VmHostDriverState).lanAddresses[0]!.split('/')[0]!,
    })),
    timings: state.timings,
    state,
  };
}

interface LabLayout {
  forwarding: Forwarding;
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
  const state = await readState(resolve(dir));
  if (!state) throw new LabNotFoundError(`no lab in ${dir}`, { path: dir });
  if (state.driver !== 'vm') throw new LabError(`lab in ${state.dir} is a ${state.driver} lab, not a vm lab`, { path: state.dir, lab: state.name });
  return labFor(state, (await readLayout(layoutFile(state.dir))).forwarding, false);
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
  return labFor(state, (await readLayout(snapshotLayoutFile(dir, tag))).forwarding);
}

/**
 * Re-addresses the running lab for another forwarding method (NAT puts the client on its
 * own subnet behind the director; TUN and DR share one LAN) and rewrites its inventory.
 */
export async function vmLabRelayout(dir: string, forwarding: Forwarding): Promise<VmLab> {
  const realServers = (await vmLabOpen(dir)).state.hosts.filter((h) => h.groups.includes('real_servers')).length;
  return labFor(await vmDriver.relayout(dir, lvsLabHosts({ realServers, forwarding })), forwarding);
}

/** Stops every VM of the lab and removes its directory (by name in the default place, or by dir). */
export async function vmLabDown(name: string, dir?: string): Promise<void> {
  await vmDriver.down(dir ?? defaultVmLabDir(name));
}
