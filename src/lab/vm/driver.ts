// The VM lab driver: one qemu VM per lab host (real Debian kernel with IPVS,
// systemd as init), reachable over SSH on 127.0.0.1:<forwarded port>.
import { Script, sh } from '../../core/shell.js';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../core/atomic-file.js';
import { join, resolve } from 'node:path';
import type { ExecResult } from '../../core/types.js';
import type { LabDriver, LabHostSpec, LabHostState, LabSpec, LabStatus, VmLabState } from '../driver.js';
import { LabCommandError, LabError, LabNotFoundError, LabTimeoutError } from '../errors.js';
import { generateKey } from '../keys.js';
import { pidAlive } from '../lock.js';
import { probeSsh } from '../probe.js';
import { readDriverState, readState, StateWriter } from '../state.js';
import { agentExec } from './agent.js';
import { cpioGz } from './cpio.js';
import { hostDataEntries, hostsFile, networkBatch } from './hostdata.js';
import { ensureVmImage } from './image.js';
import { LAN_INTERFACE } from './layout.js';
import { freePort, joinedGroups, macFor, pickMcast } from './net.js';
import { defaultAccel, isOurQemu, readPidfile, startQemu, stopQemu, type Accel, type QemuVmSpec } from './qemu.js';
import { incomingFrom, saveVms, resumeLoaded } from './snapshot.js';
import { sshCloseMaster, sshExec, type SshEndpoint } from './ssh.js';
import { waitForVmSshd } from './wait.js';

export interface VmUpOptions {
  accel?: Accel;
  /** Guest RAM in MiB (default 384: 256 is enough to boot, not to run mon + keepalived comfortably). */
  memoryMb?: number;
  /** Seconds to wait for every VM's sshd (default 480 under TCG, 60 under KVM). */
  bootTimeoutS?: number;
  log?: (line: string) => void;
}

/** What state.json keeps per VM under `driver`. */
export interface VmHostDriverState {
  pid: number | null;
  qemu: QemuVmSpec;
  lanInterface: string;
  lanAddresses: string[];
  routes: string[];
}

type VmHost = LabHostState<VmHostDriverState>;
/**
 * A TCG boot takes about a minute on an idle host, and over four minutes when the host's two cores
 * are shared with other builds and labs; a VM that died is seen at once (its pid), not at the deadline.
 */
const TCG_BOOT_TIMEOUT_S = 480;
export const knownHostsFile = (dir: string) => join(dir, 'known_hosts');
export const sshControlDir = (dir: string) => join(dir, 'ssh');

/** OpenSSH endpoint of a lab host, sharing one connection per host (see sshExec). */
export function sshEndpoint(state: VmLabState, host: string, share = true): SshEndpoint {
  const h = findHost(state, host);
  return { port: h.port, keyFile: state.keyFile, knownHosts: knownHostsFile(state.dir), controlDir: share ? sshControlDir(state.dir) : undefined };
}

function findHost(state: VmLabState, host: string): VmHost {
  const h = state.hosts.find((x) => x.name === host);
  if (!h) throw new LabNotFoundError(`lab ${state.name} has no host ${host}`, { lab: state.name, host });
  return h;
}

async function mustReadState(dir: string): Promise<VmLabState> {
  const state = await readDriverState(dir, 'vm');
  if (!state) throw new LabNotFoundError(`no lab in ${dir}`, { path: dir });
  return state;
}

function lanPlan(h: LabHostSpec, index: number): { addresses: string[]; routes: string[] } {
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
const subnetsOf = (addresses: string[][]) => [...new Set(addresses.flat().map(networkOf))].join(',');

/** Records a host's LAN plan and inventory vars in the lab state (boot, relayout, restore). */
function setLanPlan(h: VmHost, plan: { vars?: Record<string, unknown>; lanAddresses: string[]; routes: string[] }): void {
  Object.assign(h.driver, { lanAddresses: plan.lanAddresses, routes: plan.routes });
  h.vars = plan.vars;
}

async function tail(file: string, lines = 25): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

async function up(spec: LabSpec, opts: VmUpOptions = {}): Promise<VmLabState> {
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
async function launch(h: VmHost, state: VmLabState, writer: StateWriter, keepPort = false, incoming?: string): Promise<void> {
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

async function writeKnownHosts(state: VmLabState): Promise<void> {
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

async function stopAll(state: VmLabState): Promise<void> {
  await Promise.all((await ourQemus(state.dir, state)).map((q) => stopQemu(q.pid, q.pidfile)));
}

async function down(dirArg: string): Promise<void> {
  const dir = resolve(dirArg);
  const state = await readDriverState(dir, 'vm').catch(() => null);
  if (state) await Promise.all(state.hosts.map((h) => sshCloseMaster(sshEndpoint(state, h.name))));
  await Promise.all((await ourQemus(dir, state)).map((q) => stopQemu(q.pid, q.pidfile)));
  await rm(dir, { recursive: true, force: true });
}

async function status(dirArg: string): Promise<LabStatus> {
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

async function hostExec(dir: string, host: string, cmd: string, timeoutMs = 60_000): Promise<ExecResult> {
  const state = await mustReadState(resolve(dir));
  const h = findHost(state, host);
  return agentExec(h.driver.qemu.agentSocket, cmd, { timeoutMs, host });
}

async function stopHost(dir: string, host: string): Promise<void> {
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

async function startHost(dir: string, host: string): Promise<void> {
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

const TAG = /^[a-z0-9][a-z0-9-]{0,31}$/;
function snapshotFile(h: VmHost, tag: string): string {
  if (!TAG.test(tag)) throw new LabError(`snapshot name must match ${TAG}: ${JSON.stringify(tag)}`, { host: h.name });
  return join(h.dir, `snapshot-${tag}.vmstate`);
}

/** What a snapshot must give back besides the VMs: each host's LAN plan and inventory vars (a relayout changes them). */
interface SavedLayout {
  name: string;
  vars?: Record<string, unknown>;
  lanAddresses: string[];
  routes: string[];
}
const savedLayoutFile = (dir: string, tag: string) => join(dir, `snapshot-${tag}.hosts.json`);

/** Saves every VM of the lab under `tag` (they pause for it, then run on). Returns bytes saved per host. */
async function saveSnapshot(dir: string, tag: string): Promise<Record<string, number>> {
  const state = await mustReadState(resolve(dir));
  const bytes = await saveVms(state.hosts.map((h) => ({ host: h.name, qmpSocket: h.driver.qemu.qmpSocket, file: snapshotFile(h, tag) })));
  const layout: SavedLayout[] = state.hosts.map((h) => ({ name: h.name, vars: h.vars, lanAddresses: h.driver.lanAddresses, routes: h.driver.routes }));
  writeFileAtomic(savedLayoutFile(state.dir, tag), JSON.stringify(layout, null, 2));
  await Promise.all(state.hosts.map((h) => syncClock(state, h)));
  return bytes;
}

/**
 * Sets a VM's clock to the controller's: a guest clock stands still while the VM is paused,
 * and a restored VM resumes at the moment it was saved. The offset is measured over the
 * shared connection (one round trip, midpoint) and added to the guest's own clock.
 */
async function syncClock(state: VmLabState, h: VmHost): Promise<void> {
  const ep = sshEndpoint(state, h.name);
  const run = async (script: Script) => {
    const r = await sshExec(ep, script, { timeoutMs: 60_000 });
    if (r.code !== 0)
      throw new LabCommandError(`${h.name}: ${script.display}: ${r.stderr.trim() || r.stdout.trim()}`, {
        lab: state.name,
        host: h.name,
        port: h.port,
        stderr: r.stderr,
      });
    return r.stdout.trim();
  };
  const name = await run(sh`cat /etc/hostname`); // opens the shared connection: the next round trip is short
  if (name !== h.name) throw new LabCommandError(`${h.name} answers as ${JSON.stringify(name)}`, { lab: state.name, host: h.name, port: h.port });
  const t0 = Date.now();
  const guestNs = BigInt(await run(sh`date +%s%N`));
  const offsetNs = BigInt(Math.round(((t0 + Date.now()) / 2) * 1e6)) - guestNs;
  if (offsetNs > -50_000_000n && offsetNs < 50_000_000n) return;
  await run(sh`n=$(( $(date +%s%N) + (${offsetNs.toString()}) )); date -s "@$((n / 1000000000)).$(printf %09d $((n % 1000000000)))" >/dev/null`);
}

/**
 * Replaces every VM by the one saved under `tag`: same disk, data, MACs and host keys,
 * same forwarded port when still free. Each login is verified again (host key and name)
 * and the guests' clocks are set to the controller's (they resume at the saved moment).
 */
async function restoreSnapshot(dir: string, tag: string): Promise<VmLabState> {
  const state = await mustReadState(resolve(dir));
  const files = state.hosts.map((h) => snapshotFile(h, tag));
  const missing = (
    await Promise.all(
      [...files, savedLayoutFile(state.dir, tag)].map((f) =>
        stat(f).then(
          () => null,
          () => f,
        ),
      ),
    )
  ).filter(Boolean);
  if (missing.length > 0)
    throw new LabNotFoundError(`lab ${state.name} has no snapshot ${tag} (${missing.join(', ')})`, { lab: state.name, path: missing[0]! });
  const layout = JSON.parse(await readFile(savedLayoutFile(state.dir, tag), 'utf8')) as SavedLayout[];
  for (const h of state.hosts) {
    const saved = layout.find((x) => x.name === h.name);
    if (!saved) throw new LabNotFoundError(`snapshot ${tag} has no layout for ${h.name}`, { lab: state.name, host: h.name });
    setLanPlan(h, saved);
  }
  state.subnet = subnetsOf(state.hosts.map((h) => h.driver.lanAddresses));
  const writer = new StateWriter(state);
  const ports = state.hosts.map((h) => h.port);
  await Promise.all(state.hosts.map((h) => sshCloseMaster(sshEndpoint(state, h.name))));
  await stopAll(state);
  await Promise.all(state.hosts.map((h, i) => launch(h, state, writer, true, incomingFrom(files[i]!))));
  if (state.hosts.some((h, i) => h.port !== ports[i])) await writeKnownHosts(state);
  await Promise.all(state.hosts.map((h) => resumeLoaded(h.name, h.driver.qemu.qmpSocket)));
  await Promise.all(state.hosts.map((h) => syncClock(state, h)));
  return state;
}

/**
 * Brings one VM back to the moment saved under `tag` (e.g. a director killed in a failover test
 * returns as it was right after a converge); the other VMs run on untouched. Its LAN plan is the
 * current one (the saved one must match it: a single VM cannot be re-addressed by a restore).
 */
async function restoreHost(dir: string, host: string, tag: string): Promise<VmLabState> {
  const state = await mustReadState(resolve(dir));
  const h = state.hosts.find((x) => x.name === host);
  if (!h) throw new LabNotFoundError(`lab ${state.name} has no host ${host}`, { lab: state.name, host });
  const file = snapshotFile(h, tag);
  await stat(file).catch(() => {
    throw new LabNotFoundError(`lab ${state.name} has no snapshot ${tag} of ${host} (${file})`, { lab: state.name, path: file });
  });
  const layout = JSON.parse(await readFile(savedLayoutFile(state.dir, tag), 'utf8')) as SavedLayout[];
  const saved = layout.find((x) => x.name === host);
  if (!saved || JSON.stringify([saved.lanAddresses, saved.routes]) !== JSON.stringify([h.driver.lanAddresses, h.driver.routes])) {
    throw new LabError(`snapshot ${tag} of ${host} has another LAN plan than the running lab: restore the whole lab instead`, { lab: state.name, host });
  }
  const writer = new StateWriter(state);
  const port = h.port;
  await sshCloseMaster(sshEndpoint(state, h.name)).catch(() => {});
  const pid = h.driver.pid;
  if (pid && (await isOurQemu(pid, h.driver.qemu.pidfile))) await stopQemu(pid, h.driver.qemu.pidfile);
  await launch(h, state, writer, true, incomingFrom(file));
  if (h.port !== port) await writeKnownHosts(state);
  await resumeLoaded(h.name, h.driver.qemu.qmpSocket);
  await syncClock(state, h);
  return state;
}

/**
 * Moves running VMs to another LAN plan (addresses, routes, /etc/hosts): e.g. the NAT
 * layout's client on its own subnet behind the director. Hosts whose plan is unchanged
 * keep their addresses; on the others every LAN address goes (a VIP too) before the
 * plan's are added. Every host gets the new /etc/hosts.
 */
async function relayout(dir: string, hosts: LabHostSpec[]): Promise<VmLabState> {
  const state = await mustReadState(resolve(dir));
  const plans = new Map(hosts.map((h, i) => [h.name, { spec: h, ...lanPlan(h, i) }]));
  const peers = Object.fromEntries(state.hosts.map((h) => [h.name, (plans.get(h.name)?.addresses[0] ?? h.driver.lanAddresses[0]!).split('/')[0]!]));
  await Promise.all(
    state.hosts.map(async (h) => {
      const plan = plans.get(h.name);
      if (!plan) throw new LabNotFoundError(`the new layout has no host ${h.name}`, { lab: state.name, host: h.name });
      const vm = h.driver;
      const changed = JSON.stringify([plan.addresses, plan.routes]) !== JSON.stringify([vm.lanAddresses, vm.routes]);
      const batch = networkBatch({ lanInterface: vm.lanInterface, lanAddresses: plan.addresses, routes: plan.routes });
      const put = (path: string, text: string) =>
        sh`printf %s ${Buffer.from(text).toString('base64')} | base64 -d > ${`${path}.new`} && mv ${`${path}.new`} ${path}`;
      const script = Script.join(
        [
          sh`set -e`,
          put('/etc/hosts', hostsFile(h.name, peers)),
          ...(changed ? [put('/etc/lab/network.ip', batch), sh`ip addr flush dev ${vm.lanInterface}`, sh`ip -batch /etc/lab/network.ip`] : []),
        ],
        '\n',
      );
      const r = await sshExec(sshEndpoint(state, h.name), script, { timeoutMs: 60_000 });
      if (r.code !== 0) throw new LabCommandError(`relayout of ${h.name} failed: ${r.stderr.trim()}`, { lab: state.name, host: h.name, stderr: r.stderr });
      setLanPlan(h, { vars: plan.spec.vars, lanAddresses: plan.addresses, routes: plan.routes });
    }),
  );
  state.subnet = subnetsOf(state.hosts.map((h) => h.driver.lanAddresses));
  await new StateWriter(state).save();
  return state;
}

export const vmDriver: LabDriver & {
  up(spec: LabSpec, opts?: VmUpOptions): Promise<VmLabState>;
  hostExec(dir: string, host: string, cmd: string, timeoutMs?: number): Promise<ExecResult>;
  saveSnapshot(dir: string, tag: string): Promise<Record<string, number>>;
  restoreSnapshot(dir: string, tag: string): Promise<VmLabState>;
  restoreHost(dir: string, host: string, tag: string): Promise<VmLabState>;
  relayout(dir: string, hosts: LabHostSpec[]): Promise<VmLabState>;
} = { name: 'vm', up, down, status, hostExec, stopHost, startHost, saveSnapshot, restoreSnapshot, restoreHost, relayout };
