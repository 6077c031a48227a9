// Starting and stopping one lab VM with qemu. Networking is loopback-only:
// management = user-mode NIC (restrict=on) with one forwarded port on 127.0.0.1,
// LAN = multicast socket bound to 127.0.0.1, shared by the VMs of one lab only.
import { readFile, rm } from 'node:fs/promises';
import { LabCommandError, LabTimeoutError } from '../errors.js';
import { pidAlive } from '../lock.js';
import { run } from '../run.js';
import type { McastEndpoint } from './net.js';

export type Accel = 'tcg' | 'kvm';

export interface QemuVmSpec {
  /** "lab/host", shown in ps. */
  name: string;
  kernel: string;
  initrd: string;
  rootfs: string;
  sshPort: number;
  lan: McastEndpoint;
  mgmtMac: string;
  lanMac: string;
  accel: Accel;
  memoryMb: number;
  serialLog: string;
  pidfile: string;
  agentSocket: string;
  /** QMP (machine protocol) socket: pause, save and resume the VM. */
  qmpSocket: string;
}

// mitigations=off: speculative-execution workarounds only slow an emulated CPU down.
export const KERNEL_CMDLINE = 'console=ttyS0 quiet panic=-1 net.ifnames=0 mitigations=off';

export function defaultAccel(): Accel {
  const env = process.env.PROVISION_LAB_ACCEL;
  return env === 'kvm' ? 'kvm' : 'tcg';
}

/** `incoming`: a migration source URI: the VM starts from that saved state instead of booting. */
export function qemuArgs(vm: QemuVmSpec, incoming?: string): string[] {
  const accel =
    vm.accel === 'kvm'
      ? ['-accel', 'kvm', '-cpu', 'host']
      : // tb-size=256 keeps each TCG VM near 400 MB of host memory (default: >1.3 GB).
        ['-accel', 'tcg,thread=multi,tb-size=256', '-cpu', 'max'];
  return [
    '-name',
    vm.name,
    '-nodefaults',
    '-no-user-config',
    ...accel,
    '-smp',
    '1',
    '-m',
    String(vm.memoryMb),
    '-display',
    'none',
    '-vga',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${vm.serialLog}`,
    '-no-reboot',
    '-daemonize',
    '-pidfile',
    vm.pidfile,
    '-kernel',
    vm.kernel,
    '-initrd',
    vm.initrd,
    '-append',
    KERNEL_CMDLINE,
    // Fixed PCI slots: eth0 (0x3) is management, eth1 (0x4) the LAN, whatever the probe order.
    '-drive',
    `file=${vm.rootfs},if=none,id=root,format=raw,readonly=on`,
    '-device',
    'virtio-blk-pci,drive=root,addr=0x5',
    '-netdev',
    `user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:${vm.sshPort}-:22`,
    '-device',
    `virtio-net-pci,netdev=mgmt,mac=${vm.mgmtMac},romfile=,addr=0x3`,
    '-netdev',
    `socket,id=lan,mcast=${vm.lan.group}:${vm.lan.port},localaddr=127.0.0.1`,
    '-device',
    `virtio-net-pci,netdev=lan,mac=${vm.lanMac},romfile=,addr=0x4`,
    '-chardev',
    `socket,id=agent,path=${vm.agentSocket},server=on,wait=off`,
    '-device',
    'virtio-serial-pci,addr=0x6',
    '-device',
    'virtserialport,chardev=agent,name=lab.agent',
    '-qmp',
    `unix:${vm.qmpSocket},server=on,wait=off`,
    ...(incoming ? ['-incoming', incoming] : []),
  ];
}

/** Starts the VM in the background (qemu -daemonize) and returns its pid. */
export async function startQemu(vm: QemuVmSpec, incoming?: string): Promise<number> {
  await rm(vm.pidfile, { force: true });
  const res = await run('qemu-system-x86_64', qemuArgs(vm, incoming), { allowFail: true, timeoutMs: 60_000 });
  if (res.code !== 0) {
    throw new LabCommandError(`qemu for ${vm.name} failed to start (exit ${res.code}): ${res.stderr.trim()}`, {
      host: vm.name,
      code: res.code,
      stderr: res.stderr,
      port: vm.sshPort,
    });
  }
  const pid = await readPidfile(vm.pidfile);
  if (pid === null) throw new LabCommandError(`qemu for ${vm.name} wrote no pidfile`, { host: vm.name, path: vm.pidfile });
  return pid;
}

export async function readPidfile(path: string): Promise<number | null> {
  const n = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** The pid is alive and still the qemu we started (its command line names our pidfile): pids get reused. */
export async function isOurQemu(pid: number, pidfile: string): Promise<boolean> {
  if (!pidAlive(pid)) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes(pidfile);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopQemu(pid: number, pidfile: string, graceMs = 2000): Promise<void> {
  if (!(await isOurQemu(pid, pidfile))) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await sleep(50);
  if (pidAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    const hard = Date.now() + 5000;
    while (pidAlive(pid)) {
      if (Date.now() > hard) throw new LabTimeoutError(`qemu pid ${pid} survived SIGKILL`, { pid, path: pidfile });
      await sleep(50);
    }
  }
}
