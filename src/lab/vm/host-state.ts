// What a VM lab's state.json keeps per VM, and the lookups every lab operation
// (lifecycle, snapshots, relayout) starts from: the lab's state, one host, its SSH endpoint.
import { join } from 'node:path';
import type { LabHostState, VmLabState } from '../driver.js';
import { LabNotFoundError } from '../errors.js';
import { readDriverState } from '../state.js';
import type { QemuVmSpec } from './qemu.js';
import type { SshEndpoint } from './ssh.js';

/** What state.json keeps per VM under `driver`. */
export interface VmHostDriverState {
  pid: number | null;
  qemu: QemuVmSpec;
  lanInterface: string;
  lanAddresses: string[];
  routes: string[];
}

export type VmHost = LabHostState<VmHostDriverState>;
export const knownHostsFile = (dir: string) => join(dir, 'known_hosts');
export const sshControlDir = (dir: string) => join(dir, 'ssh');

/** OpenSSH endpoint of a lab host, sharing one connection per host (see sshExec). */
export function sshEndpoint(state: VmLabState, host: string, share = true): SshEndpoint {
  const h = findHost(state, host);
  return { port: h.port, keyFile: state.keyFile, knownHosts: knownHostsFile(state.dir), controlDir: share ? sshControlDir(state.dir) : undefined };
}

export function findHost(state: VmLabState, host: string): VmHost {
  const h = state.hosts.find((x) => x.name === host);
  if (!h) throw new LabNotFoundError(`lab ${state.name} has no host ${host}`, { lab: state.name, host });
  return h;
}

export async function mustReadState(dir: string): Promise<VmLabState> {
  const state = await readDriverState(dir, 'vm');
  if (!state) throw new LabNotFoundError(`no lab in ${dir}`, { path: dir });
  return state;
}
