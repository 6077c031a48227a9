// The VM lab driver: one qemu VM per lab host (real Debian kernel with IPVS,
// systemd as init), reachable over SSH on 127.0.0.1:<forwarded port>. This file
// only assembles it: lifecycle.ts boots and stops the VMs, lab-snapshot.ts saves
// and restores them, relayout.ts moves them to another LAN plan.
import type { ExecResult } from '../../core/types.js';
import type { LabDriver, LabHostSpec, LabSpec, VmLabState } from '../driver.js';
import { restoreHost, restoreSnapshot, saveSnapshot } from './lab-snapshot.js';
import { down, hostExec, startHost, status, stopHost, up, type VmUpOptions } from './lifecycle.js';
import { relayout } from './relayout.js';

export const vmDriver: LabDriver & {
  up(spec: LabSpec, opts?: VmUpOptions): Promise<VmLabState>;
  hostExec(dir: string, host: string, cmd: string, timeoutMs?: number): Promise<ExecResult>;
  saveSnapshot(dir: string, tag: string): Promise<Record<string, number>>;
  restoreSnapshot(dir: string, tag: string): Promise<VmLabState>;
  restoreHost(dir: string, host: string, tag: string): Promise<VmLabState>;
  relayout(dir: string, hosts: LabHostSpec[]): Promise<VmLabState>;
} = { name: 'vm', up, down, status, hostExec, stopHost, startHost, saveSnapshot, restoreSnapshot, restoreHost, relayout };
