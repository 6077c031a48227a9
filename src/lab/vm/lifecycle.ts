// A VM lab's lifecycle: boot every VM (up), stop and remove them (down), their status, and
// one host's sshd stopped or started for tests that break SSH. Snapshots and relayout
// reuse launch, writeKnownHosts and stopAll to bring VMs back on the same ports.
import { sh } from '../../core/shell.js';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ExecResult } from '../../core/types.js';
import type { LabSpec, LabStatus, VmLabState } from '../driver.js';
import { LabCommandError, LabTimeoutError } from '../errors.js';
import { generateKey } from '../keys.js';
import { pidAlive } from '../lock.js';
import { probeSsh } from '../probe.js';
import { readDriverState, readState, StateWriter } from '../state.js';
import { agentExec } from './agent.js';
import { cpioGz } from './cpio.js';
import { hostDataEntries } from './hostdata.js';
import { findHost, knownHostsFile, mustReadState, sshControlDir, sshEndpoint, type VmHost, type VmHostDriverState } from './host-state.js';
import { ensureVmImage } from './image.js';
import { lanPlan, subnetsOf } from './lan-plan.js';
import { LAN_INTERFACE } from './layout.js';
import { freePort, joinedGroups, macFor, pickMcast } from './net.js';
import { defaultAccel, isOurQemu, readPidfile, startQemu, stopQemu, type Accel, type QemuVmSpec } from './qemu.js';
import { sshCloseMaster, sshExec } from './ssh.js';
import { waitForVmSshd } from './wait.js';

export interface VmUpOptions {
  accel?: Accel;
  /** Guest RAM in MiB (default 384: 256 is enough to boot, not to run mon + keepalived comfortably). */
  memoryMb?: number;
  /** Seconds to wait for every VM's sshd (default 480 under TCG, 60 under KVM). */
  bootTimeoutS?: number;
  log?: (line: string) => void;
}

/**
 * A TCG boot takes about a minute on an idle host, and over four minutes when the host's two cores
 * are shared with other builds and labs; a VM that died is seen at once (its pid), not at the deadline.
 */
const TCG_BOOT_TIMEOUT_S = 480;

async function tail(file: string, lines = 25): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

export async function up(spec: LabSpec, opts: VmUpOptions = {}): Promise<VmLabState> {
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  const dir = resolve(spec.dir);
  if ((await readState(dir)) !== null) await down(dir);
  await mkdir(join(dir, 'hosts'), { recursive: true, mode: 0o700 });
  await mkdir(sshControlDir(dir), { recursive: true, mode: 0o700 });

  const image = await ensureVmImage({ log });
  const tImage = Date.now();
  const accel = opts.accel ?? defaultAccel();
  const keyFile = join(dir, 'id_ed25519');
  const controllerKey = await generateKey(keyFile, `provision-lab-${spec.name}`);
  const lan = pickMcast(`${spec.name}:${dir}`, await joinedGroups());
  const plans = spec.hosts.map((h, i) => ({ spec: h, ...lanPlan(h, i) }));
  const peers = Object.fromEntries(plans.map((p) => [p.spec.name, p.addresses[0]!.split('/')[0]!]));

  const state: VmLabState = {
    version: 1,
    name: spec.name,
    driver: 'vm',
    dir,
    createdAt: new Date().toISOString(),
    subnet: subnetsOf(plans.map((p) => p.addresses)),
    image: { key: image.key, rootfs: image.rootfs },
    hosts: [],
    resources: { netns: [], links: [], pids: [], dirs: [dir] },
    keyFile,
    timings: {},
  };
  const writer = new StateWriter(state);
  await writer.save();

  try {
    const baseInitrd = await readFile(image.initrd);
    // Prepare every VM's data, then start them all at once: boot time is the slow part.
    const prepared = await Promise.all(
      plans.map(async (p, i) => {
        const hostDir = join(dir, 'hosts', p.spec.name);
        await mkdir(hostDir, { recursive: true, mode: 0o700 });
        const hostKeyPath = join(hostDir, 'ssh_host_ed25519_key');
        const hostKey = await generateKey(hostKeyPath, `root@${p.spec.name}`);
        const entries = hostDataEntries({
          hostname: p.spec.name,
          network: { lanInterface: LAN_INTERFACE, lanAddresses: p.addresses, routes: p.routes },
          hostKey: { private: await readFile(hostKeyPath, 'utf8'), public: hostKey },
          authorizedKeys: [controllerKey],
          peers,
        });
        const initrd = join(hostDir, 'initrd.img');
        await writeFile(initrd, Buffer.concat([baseInitrd, cpioGz(entries)]), { mode: 0o600 });
        const qemu: QemuVmSpec = {
          name: `${spec.name}/${p.spec.name}`,
          kernel: image.kernel,
          initrd,
          rootfs: image.rootfs,
          sshPort: 0,
          lan,
          mgmtMac: macFor(spec.name, i, 0),
          lanMac: macFor(spec.name, i, 1),
          accel,
          memoryMb: opts.memoryMb ?? 384,
          serialLog: join(hostDir, 'serial.log'),
          pidfile: join(hostDir, 'qemu.pid'),
          agentSocket: join(hostDir, 'agent.sock'),
          qmpSocket: join(hostDir, 'qmp.sock'),
        };
        const host: VmHost = {
          name: p.spec.name,
          groups: p.spec.groups,
          vars: p.spec.vars,
          address: '127.0.0.1',
          port: 0,
          hostKey,
          dir: hostDir,
          log: qemu.serialLog,
          driver: {
            pid: null,
            qemu,
            lanInterface: LAN_INTERFACE,
            lanAddresses: p.addresses,
            routes: p.routes,
          } satisfies VmHostDriverState,
        };
        state.hosts.push(host);
        return host;
      }),
    );
    state.hosts.sort((a, b) => plans.findIndex((p) => p.spec.name === a.name) - plans.findIndex((p) => p.spec.name === b.name));
    await writer.save();
    const tPrepared = Date.now();

    await Promise.all(prepared.map((h) => launch(h, state, writer)));
    const tStarted = Date.now();
    log(`vm lab ${spec.name}: ${prepared.length} VMs started (${accel}), waiting for sshd`);

    const bootTimeoutMs = (opts.bootTimeoutS ?? (accel === 'kvm' ? 60 : TCG_BOOT_TIMEOUT_S)) * 1000;
    await Promise.all(
      prepared.map((h) =>
        waitForVmSshd(h.port, {
          timeoutMs: bootTimeoutMs,
          alive: () => pidAlive(h.driver.pid ?? 0),
          context: { lab: spec.name, host: h.name },
          describe: async () => `serial log ${h.log}:\n${await tail(h.log)}`,
        }),
      ),
    );
    const tBanner = Date.now();

    await writeKnownHosts(state);
    await Promise.all(prepared.map((h) => verifyLogin(state, h)));
    const tVerified = Date.now();
    state.timings = {
      imageMs: tImage - t0,
      prepareMs: tPrepared - tImage,
      qemuStartMs: tStarted - tPrepared,
      bootToBannerMs: tBanner - tPrepared,
      sshVerifyMs: tVerified - tBanner,
      totalMs: tVerified - t0,
    };
    await writer.save();
    log(`vm lab ${spec.name}: up in ${state.timings.totalMs} ms`);
    return state;
  } catch (e) {
    // Leave the dir (serial logs say why) but no running VM; `down` removes the rest.
    await stopAll(state).catch(() => {});
    throw e;
  }
}

/** Starts (or restarts) a host's qemu, retrying with a new port when the forwarded one was taken meanwhile. */
export async function launch(h: VmHost, state: VmLabState, writer: StateWriter, keepPort = false, incoming?: string): Promise<void> {
  const vm = h.driver;
  for (let attempt = 1; ; attempt++) {
    if (!keepPort || vm.qemu.sshPort === 0) vm.qemu.sshPort = await freePort();
    try {
      vm.pid = await startQemu(vm.qemu, incoming);
      break;
    } catch (e) {
      const portLost = e instanceof LabCommandError && /hostfwd|host forwarding|in use/i.test(String(e.context.stderr));
      if (!portLost || attempt >= 5) throw e;
      keepPort = false;
    }
  }
  h.port = vm.qemu.sshPort;
  state.resources.pids = [...state.resources.pids.filter((p) => p !== vm.pid), vm.pid!];
  await writer.save();
}

export async function writeKnownHosts(state: VmLabState): Promise<void> {
  const lines = state.hosts.map((h) => `[127.0.0.1]:${h.port} ${h.hostKey}`);
  await writeFile(knownHostsFile(state.dir), lines.join('\n') + '\n', { mode: 0o600 });
}

/** Logs in with OpenSSH and strict host key checking: the banner alone does not prove it is our VM. */
async function verifyLogin(state: VmLabState, h: VmHost): Promise<void> {
  const ep = sshEndpoint(state, h.name, false);
  let last: ExecResult | undefined;
  for (let attempt = 1; attempt <= 5; attempt++) {
    last = await sshExec(ep, sh`cat /etc/hostname`, { timeoutMs: 60_000 });
    if (last.code === 0 && last.stdout.trim() === h.name) return;
    if (/host key verification failed|REMOTE HOST IDENTIFICATION/i.test(last.stderr)) break;
    await new Promise((r) => setTimeout(r, 500 * attempt));
  }
  throw new LabCommandError(`cannot log in to ${h.name} with verified host key: ${last?.stderr.trim() || last?.stdout.trim()}`, {
    lab: state.name,
    host: h.name,
    port: h.port,
    code: last?.code,
    stderr: last?.stderr,
  });
}

/** Every qemu this lab may have started: recorded pids plus pidfiles (covers a crash before state was saved). */
async function ourQemus(dir: string, state: VmLabState | null): Promise<{ pid: number; pidfile: string }[]> {
  const found = new Map<number, string>();
  for (const h of state?.hosts ?? []) {
    const vm = h.driver;
    if (vm?.pid) found.set(vm.pid, vm.qemu.pidfile);
  }
  const hostsDir = join(dir, 'hosts');
  for (const name of await readdir(hostsDir).catch(() => [] as string[])) {
    const pidfile = join(hostsDir, name, 'qemu.pid');
    const pid = await readPidfile(pidfile);
    if (pid) found.set(pid, pidfile);
  }
  return [...found].map(([pid, pidfile]) => ({ pid, pidfile }));
}

export async function stopAll(state: VmLabState): Promise<void> {
  await Promise.all((await ourQemus(state.dir, state)).map((q) => stopQemu(q.pid, q.pidfile)));
}

export async function down(dirArg: string): Promise<void> {
  const dir = resolve(dirArg);
  const state = await readDriverState(dir, 'vm').catch(() => null);
  if (state) await Promise.all(state.hosts.map((h) => sshCloseMaster(sshEndpoint(state, h.name))));
  await Promise.all((await ourQemus(dir, state)).map((q) => stopQemu(q.pid, q.pidfile)));
  await rm(dir, { recursive: true, force: true });
}

export async function status(dirArg: string): Promise<LabStatus> {
  const dir = resolve(dirArg);
  const state = await readDriverState(dir, 'vm');
  if (!state) return { name: dirArg, driver: 'vm', exists: false, hosts: [] };
  const hosts = await Promise.all(
    state.hosts.map(async (h) => {
      const vm = h.driver;
      const running = vm.pid !== null && (await isOurQemu(vm.pid, vm.qemu.pidfile));
      // 10 s: a banner takes seconds from a guest starved of CPU (two host cores, five TCG VMs and other jobs).
      const sshd = running && (await probeSsh('127.0.0.1', h.port, 10_000)).kind === 'banner';
      return { name: h.name, address: `${h.address}:${h.port}`, running, sshd };
    }),
  );
  return { name: state.name, driver: 'vm', exists: true, hosts };
}

export async function hostExec(dir: string, host: string, cmd: string, timeoutMs = 60_000): Promise<ExecResult> {
  const state = await mustReadState(resolve(dir));
  const h = findHost(state, host);
  return agentExec(h.driver.qemu.agentSocket, cmd, { timeoutMs, host });
}

export async function stopHost(dir: string, host: string): Promise<void> {
  const state = await mustReadState(resolve(dir));
  const h = findHost(state, host);
  await sshCloseMaster(sshEndpoint(state, host));
  const res = await agentExec(h.driver.qemu.agentSocket, 'systemctl stop ssh.socket 2>/dev/null; systemctl stop ssh.service', { host });
  if (res.code !== 0) throw new LabCommandError(`cannot stop sshd on ${host}: ${res.stderr.trim()}`, { lab: state.name, host, stderr: res.stderr });
  // Through slirp a closed guest port looks like "accepted, then closed", never "refused".
  const deadline = Date.now() + 15_000;
  while ((await probeSsh('127.0.0.1', h.port, 1500)).kind === 'banner') {
    if (Date.now() > deadline) throw new LabTimeoutError(`sshd on ${host} still answers`, { lab: state.name, host, port: h.port });
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startHost(dir: string, host: string): Promise<void> {
  const state = await mustReadState(resolve(dir));
  const h = findHost(state, host);
  const vm = h.driver;
  if (vm.pid !== null && (await isOurQemu(vm.pid, vm.qemu.pidfile))) {
    const res = await agentExec(vm.qemu.agentSocket, 'systemctl start ssh.service', { host });
    if (res.code !== 0) throw new LabCommandError(`cannot start sshd on ${host}: ${res.stderr.trim()}`, { lab: state.name, host, stderr: res.stderr });
  } else {
    // The VM died: boot it again from the same image and data, on the same port (known_hosts names it).
    const oldPort = h.port;
    await launch(h, state, new StateWriter(state), true);
    if (h.port !== oldPort) await writeKnownHosts(state);
  }
  await waitForVmSshd(h.port, {
    timeoutMs: TCG_BOOT_TIMEOUT_S * 1000,
    alive: () => pidAlive(vm.pid ?? 0),
    context: { lab: state.name, host },
    describe: async () => `serial log ${h.log}:\n${await tail(h.log)}`,
  });
}
