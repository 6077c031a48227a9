// Container driver: each host is its own network namespace plus private mount,
// uts and pid namespaces over an overlayfs root, running its own sshd. Hosts sit
// on a bridge inside a per-lab namespace; one veth links that bridge to the
// controller (root namespace), which owns the subnet's .1 address.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pLimit from 'p-limit';
import type { ExecResult } from '../core/types.js';
import { execResult } from '../core/host-output.js';
import type { ContainerLabState, LabDriver, LabHostSpec, LabHostState, LabSpec, LabStatus } from './driver.js';
import { LabError, LabNotFoundError } from './errors.js';
import { writeUpperFiles } from './hostfs.js';
import { ensureImage, type ImageSpec } from './image.js';
import { renderInit, SUPERVISOR, SUPERVISOR_PATH } from './init-script.js';
import { generateKey } from './keys.js';
import { withLock } from './lock.js';
import { killAndWait, listNetns, netnsPids, pidRunning, procState, rootLinks } from './netns.js';
import { probeSsh, waitForBanner, waitForRefused } from './probe.js';
import { run } from './run.js';
import { readDriverState, StateWriter } from './state.js';

/**
 * A lab's subnet is 10.213.X.0/24 (up to 243 hosts) or, for more hosts, an aligned
 * 10.213.X.0/22 (four /24s). The controller is .1; hosts get .11, .12, ... upwards.
 */
const NET_PREFIX = '10.213';
const FIRST_HOST_OCTET = 11;
const SMALL_LAB_HOSTS = 254 - FIRST_HOST_OCTET;
// A Linux bridge has at most 1023 ports (BR_MAX_PORTS less port 0); the uplink takes one.
const MAX_HOSTS = 1022;
const SSH_PORT = 22;
const HOST_NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;
const ALLOC_LOCK = '/run/provision-lab/subnet.lock';
const CLEAN_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };

export interface ContainerHostDetails {
  [key: string]: unknown;
  index: number;
  netns: string;
  /** Bridge port of this host inside the lab namespace. */
  bridgePort: string;
  /** `ip netns exec ... unshare` process: parent of the host's pid 1. */
  launcherPid: number;
  /** The host's pid 1 (as seen from the root pid namespace). */
  initPid: number;
}

export interface ContainerDriverOptions {
  image?: ImageSpec;
  imageCacheDir?: string;
  /** Hosts booted at once. */
  concurrency?: number;
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Short, stable id of a lab dir: namespaces and links are named from it. */
export function labShortId(dir: string): string {
  return createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 6);
}

export const names = (short: string) => ({
  prefix: `plab-${short}-`,
  labNetns: `plab-${short}-lan`,
  hostNetns: (i: number) => `plab-${short}-h${i}`,
  // Root-namespace side of the uplink: "plab" + 6 hex = 10 chars (limit 15).
  uplink: `plab${short}`,
});

type ContainerHost = LabHostState<ContainerHostDetails>;

export class ContainerDriver implements LabDriver {
  readonly name = 'container' as const;
  constructor(private readonly opts: ContainerDriverOptions = {}) {}

  private log(line: string): void {
    this.opts.log?.(line);
  }

  // One operation at a time per lab dir (the lock sits beside the dir, which down removes).
  private locked<T>(dir: string, fn: () => Promise<T>): Promise<T> {
    return withLock(`${resolve(dir)}.lock`, fn, 5 * 60_000);
  }

  async up(spec: LabSpec): Promise<ContainerLabState> {
    validateSpec(spec);
    return this.locked(spec.dir, () => this.upLocked(spec));
  }

  down(dir: string): Promise<void> {
    return this.locked(dir, () => this.downLocked(dir));
  }

  startHost(dir: string, hostName: string): Promise<void> {
    return this.locked(dir, () => this.startHostLocked(dir, hostName));
  }

  private async upLocked(spec: LabSpec): Promise<ContainerLabState> {
    const dir = resolve(spec.dir);
    const n = names(labShortId(dir));
    const t0 = Date.now();
    const timings: Record<string, number> = {};
    const mark = (k: string, since: number) => (timings[k] = Date.now() - since);

    let t = Date.now();
    if ((await readDriverState(dir, 'container')) !== null || (await listNetns()).some((ns) => ns.startsWith(n.prefix))) {
      this.log(`lab ${spec.name} exists in ${dir}: taking it down first`);
      await this.downLocked(dir);
      mark('downExisting', t);
    }

    t = Date.now();
    const image = await ensureImage({ spec: this.opts.image, cacheDir: this.opts.imageCacheDir, log: this.opts.log });
    mark('image', t);
    await mkdir(dir, { recursive: true, mode: 0o700 });

    t = Date.now();
    const keyFile = join(dir, 'id_ed25519');
    const controllerKey = await generateKey(keyFile, `provision-lab-${spec.name}`);
    mark('controllerKey', t);

    const state: ContainerLabState = {
      version: 1,
      name: spec.name,
      driver: 'container',
      dir,
      createdAt: new Date().toISOString(),
      subnet: '',
      image: { key: image.key, rootfs: image.rootfs },
      hosts: [],
      resources: { netns: [], links: [], pids: [], dirs: [dir] },
      keyFile,
      timings,
    };
    const writer = new StateWriter(state);
    await writer.save();

    try {
      t = Date.now();
      const prefix = subnetPrefix(spec.hosts.length);
      const x = await withLock(ALLOC_LOCK, async () => {
        const x = await freeSubnetOctet(dir, prefix);
        state.subnet = `${NET_PREFIX}.${x}.0/${prefix}`;
        await this.createLabNetwork(n, x, prefix, writer);
        return x;
      });
      mark('network', t);

      // Files first (parallel), then all namespaces and links in two batched ip calls, then boot.
      t = Date.now();
      const limit = pLimit(this.opts.concurrency ?? 16);
      const hosts = await Promise.all(spec.hosts.map((h, i) => limit(() => this.prepareHost(state, n, x, prefix, i + 1, h, controllerKey))));
      state.hosts.push(...hosts);
      state.resources.netns.push(...hosts.map((h) => h.driver.netns));
      await writer.save();
      mark('hostFiles', t);

      t = Date.now();
      await run('ip', ['-batch', '-'], { input: hosts.map((h) => `netns add ${h.driver.netns}\n`).join('') });
      await run('ip', ['-n', n.labNetns, '-batch', '-'], {
        input: hosts
          .map((h) => {
            const d = h.driver;
            return `link add ${d.bridgePort} type veth peer name eth0 netns ${d.netns}\nlink set ${d.bridgePort} master br0 up\n`;
          })
          .join(''),
      });
      mark('hostNetworks', t);

      t = Date.now();
      for (const h of hosts) this.spawnHost(state, h);
      await writer.save();
      await resolveInitPids(hosts);
      state.resources.pids.push(...hosts.map((h) => h.driver.initPid));
      await writer.save();
      mark('boot', t);

      t = Date.now();
      // A few hosts waited on at a time: every banner probe makes the host's sshd fork, and a
      // thousand hosts probed every 250 ms kept two cores too busy to ever finish booting them.
      const waits = pLimit(32);
      await Promise.all(state.hosts.map((h) => waits(() => this.waitReady(state, h))));
      mark('sshReady', t);
    } catch (e) {
      // A half-made lab is useless: remove it (the error already carries the host's log tail).
      await writer.save().catch(() => {});
      await this.downLocked(dir).catch((downErr: unknown) => this.log(`cleanup after failed up also failed: ${String(downErr)}`));
      throw e instanceof LabError
        ? e
        : new LabError(`lab ${spec.name} failed to come up: ${(e as Error).message}`, { lab: spec.name, path: dir }, { cause: e });
    }
    mark('total', t0);
    await writer.save();
    return state;
  }

  private async createLabNetwork(n: ReturnType<typeof names>, x: number, prefix: number, writer: StateWriter): Promise<void> {
    const r = writer.state.resources;
    r.netns.push(n.labNetns);
    r.links.push(n.uplink);
    await writer.save();
    await run('ip', ['netns', 'add', n.labNetns]);
    await run('ip', ['-n', n.labNetns, '-batch', '-'], { input: 'link set lo up\nlink add br0 type bridge\nlink set br0 up\n' });
    await run('ip', ['link', 'add', n.uplink, 'type', 'veth', 'peer', 'name', 'up0', 'netns', n.labNetns]);
    await run('ip', ['-batch', '-'], { input: `addr add ${NET_PREFIX}.${x}.1/${prefix} dev ${n.uplink}\nlink set ${n.uplink} up\n` });
    await run('ip', ['-n', n.labNetns, 'link', 'set', 'up0', 'master', 'br0', 'up']);
  }

  /** Writes the host's overlay upper dir (keys, hostname, supervisor) and its init.sh. */
  private async prepareHost(
    state: ContainerLabState,
    n: ReturnType<typeof names>,
    x: number,
    prefix: number,
    index: number,
    spec: LabHostSpec,
    controllerKey: string,
  ): Promise<ContainerHost> {
    const hostDir = join(state.dir, spec.name);
    const paths = { upper: join(hostDir, 'upper'), work: join(hostDir, 'work'), root: join(hostDir, 'root') };
    for (const p of Object.values(paths)) await mkdir(p, { recursive: true, mode: 0o755 });
    const address = hostAddress(x, index);

    // Host key generated here so the controller knows it before the host ever answers.
    const keyTmp = join(hostDir, 'ssh_host_ed25519_key');
    const hostKey = await generateKey(keyTmp, `root@${spec.name}`);
    const privateKey = await readFile(keyTmp, 'utf8');
    await rm(keyTmp);
    await rm(`${keyTmp}.pub`);
    const lower = state.image.rootfs;
    await writeUpperFiles(lower, paths.upper, [
      { path: 'etc/hostname', content: `${spec.name}\n`, mode: 0o644 },
      { path: 'etc/hosts', content: `127.0.0.1\tlocalhost\n${address}\t${spec.name}\n`, mode: 0o644 },
      { path: 'etc/ssh/ssh_host_ed25519_key', content: privateKey, mode: 0o600 },
      { path: 'etc/ssh/ssh_host_ed25519_key.pub', content: `${hostKey} root@${spec.name}\n`, mode: 0o644 },
      { path: 'root/.ssh/authorized_keys', content: `${controllerKey}\n`, mode: 0o600 },
      { path: 'home/deploy/.ssh/authorized_keys', content: `${controllerKey}\n`, mode: 0o600, uid: 1000, gid: 1000 },
      { path: SUPERVISOR_PATH, content: SUPERVISOR, mode: 0o755 },
    ]);
    await writeFile(
      join(hostDir, 'init.sh'),
      renderInit({ hostname: spec.name, address: `${address}/${prefix}`, lower, ...paths, pidFile: join(hostDir, 'init.pid') }),
      {
        mode: 0o755,
      },
    );
    return {
      name: spec.name,
      groups: spec.groups,
      ...(spec.vars ? { vars: spec.vars } : {}),
      address,
      port: SSH_PORT,
      hostKey,
      dir: hostDir,
      log: join(hostDir, 'sshd.log'),
      driver: { index, netns: n.hostNetns(index), bridgePort: `v${index}`, launcherPid: 0, initPid: 0 } satisfies ContainerHostDetails,
    };
  }

  /** Starts the host's namespaces and init.sh in its (existing) netns; records the launcher pid. */
  private spawnHost(state: ContainerLabState, host: ContainerHost): void {
    const d = host.driver;
    const logFd = openSync(host.log, 'a');
    let pid: number | undefined;
    try {
      const child = spawn(
        'ip',
        ['netns', 'exec', d.netns, 'unshare', '--mount', '--uts', '--pid', '--fork', '--propagation', 'slave', '/bin/sh', join(host.dir, 'init.sh')],
        // Detached (own session) so the host outlives the controller process.
        { detached: true, stdio: ['ignore', logFd, logFd], env: CLEAN_ENV },
      );
      child.on('error', () => {});
      child.unref();
      pid = child.pid;
    } finally {
      closeSync(logFd);
    }
    if (pid === undefined) throw new LabError(`cannot start host ${host.name}`, { lab: state.name, host: host.name });
    d.launcherPid = pid;
    d.initPid = 0;
    state.resources.pids.push(pid);
  }

  private async waitReady(state: ContainerLabState, host: ContainerHost): Promise<void> {
    const d = host.driver;
    let alive = true;
    const poll = setInterval(() => void pidRunning(d.initPid).then((a) => (alive = a)), 100);
    try {
      await waitForBanner(host.address, host.port, {
        // Hundreds of hosts booting at once on few cores take longer: allow more per host.
        timeoutMs: this.opts.readyTimeoutMs ?? 30_000 + 100 * state.hosts.length,
        alive: () => alive,
        context: { lab: state.name, host: host.name },
        describe: async () => `${host.log}:\n${await tail(host.log)}`,
      });
    } finally {
      clearInterval(poll);
    }
  }

  private async downLocked(dirIn: string): Promise<void> {
    const dir = resolve(dirIn);
    const n = names(labShortId(dir));
    const state = await readDriverState(dir, 'container');
    // Namespaces by recorded name and by prefix: covers a crash before state.json was written.
    const netns = new Set([...(state?.resources.netns ?? []), ...(await listNetns()).filter((ns) => ns.startsWith(n.prefix))]);
    const existing = new Set(await listNetns());

    const pids = new Set<number>();
    for (const ns of netns) if (existing.has(ns)) for (const p of await netnsPids(ns)) pids.add(p);
    // Recorded pids that left their netns (or whose netns is gone) - only if still ours.
    for (const p of state?.resources.pids ?? []) if (!pids.has(p) && (await isOurs(p, dir))) pids.add(p);
    const stuck = await killAndWait([...pids]);
    if (stuck.length > 0) throw new LabError(`processes of lab in ${dir} survived SIGKILL: ${stuck.join(', ')}`, { path: dir, pids: stuck });

    const doomed = [...netns].filter((ns) => existing.has(ns));
    if (doomed.length > 0) await run('ip', ['-batch', '-'], { input: doomed.map((ns) => `netns del ${ns}\n`).join('') });
    // The uplink dies with its peer in the lab namespace; delete it explicitly if anything kept that alive.
    const links = new Set([...(state?.resources.links ?? []), n.uplink]);
    const present = new Set(await rootLinks());
    for (const l of links) if (present.has(l)) await run('ip', ['link', 'del', l], { allowFail: true });

    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(`${dir}/`));
    if (mounts.length > 0) throw new LabError(`mounts under ${dir} remain; not removing it`, { path: dir, mounts });
    for (const d of state?.resources.dirs ?? [dir]) await rm(d, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }

  async status(dirIn: string): Promise<LabStatus> {
    const dir = resolve(dirIn);
    const state = await readDriverState(dir, 'container');
    if (!state) return { name: '', driver: 'container', exists: false, hosts: [] };
    const netns = new Set(await listNetns());
    const hosts = await Promise.all(
      state.hosts.map(async (h) => {
        const d = h.driver;
        const running = netns.has(d.netns) && d.initPid > 0 && (await pidRunning(d.initPid));
        const sshd = running && (await probeSsh(h.address, h.port, 1500)).kind === 'banner';
        return { name: h.name, address: h.address, running, sshd };
      }),
    );
    return { name: state.name, driver: 'container', exists: true, hosts };
  }

  async hostExec(dir: string, hostName: string, cmd: string): Promise<ExecResult> {
    const { host } = await this.runningHost(dir, hostName);
    const d = host.driver;
    const r = await run('nsenter', ['--target', String(d.initPid), '--mount', '--uts', '--pid', '--net', '--root', '--wd', '--', '/bin/sh', '-c', cmd], {
      allowFail: true,
      env: { ...CLEAN_ENV, HOME: '/root', USER: 'root', LOGNAME: 'root' },
    });
    return execResult(r.code, r.stdout, r.stderr);
  }

  async stopHost(dir: string, hostName: string): Promise<void> {
    const { state, host } = await this.runningHost(dir, hostName);
    process.kill(host.driver.initPid, 'SIGUSR2');
    await waitForRefused(host.address, host.port, 10_000, { lab: state.name, host: host.name });
  }

  private async startHostLocked(dirIn: string, hostName: string): Promise<void> {
    const dir = resolve(dirIn);
    const state = await readDriverState(dir, 'container');
    const host = state?.hosts.find((h) => h.name === hostName);
    if (!state || !host) throw new LabNotFoundError(`no host ${hostName} in lab at ${dir}`, { path: dir, host: hostName });
    const d = host.driver;
    if (await pidRunning(d.initPid)) {
      process.kill(d.initPid, 'SIGUSR1');
    } else {
      // The whole host died (its pid 1 was killed). Its netns and eth0 outlive pid 1,
      // so boot again in them, over the same upper dir: files survive like on a disk.
      this.spawnHost(state, host);
      await resolveInitPids([host]);
      state.resources.pids.push(d.initPid);
      await new StateWriter(state).save();
    }
    await this.waitReady(state, host);
  }

  private async runningHost(dirIn: string, hostName: string): Promise<{ state: ContainerLabState; host: ContainerHost }> {
    const dir = resolve(dirIn);
    const state = await readDriverState(dir, 'container');
    if (!state) throw new LabNotFoundError(`no lab at ${dir}`, { path: dir });
    const host = state.hosts.find((h) => h.name === hostName);
    if (!host) throw new LabNotFoundError(`no host ${hostName} in lab ${state.name}`, { lab: state.name, host: hostName });
    if (!(await pidRunning(host.driver.initPid)))
      throw new LabError(`host ${hostName} of lab ${state.name} is not running`, { lab: state.name, host: hostName });
    return { state, host };
  }
}

function validateSpec(spec: LabSpec): void {
  if (spec.hosts.length === 0) throw new LabError('a lab needs at least one host', { lab: spec.name });
  if (spec.hosts.length > MAX_HOSTS) throw new LabError(`at most ${MAX_HOSTS} hosts per lab`, { lab: spec.name });
  const seen = new Set<string>();
  for (const h of spec.hosts) {
    // Names become hostnames and directory names under the lab dir.
    if (!HOST_NAME_RE.test(h.name)) throw new LabError(`invalid host name ${JSON.stringify(h.name)}`, { lab: spec.name, host: h.name });
    if (seen.has(h.name)) throw new LabError(`duplicate host name ${h.name}`, { lab: spec.name, host: h.name });
    seen.add(h.name);
  }
}

/** Prefix length of a lab of `hosts` hosts: /24 while the hosts fit, else /22. */
export function subnetPrefix(hosts: number): 24 | 22 {
  return hosts <= SMALL_LAB_HOSTS ? 24 : 22;
}

/** Address of host `index` (1-based) in the lab subnet starting at 10.213.X.0. */
export function hostAddress(x: number, index: number): string {
  const offset = FIRST_HOST_OCTET + index - 1;
  return `${NET_PREFIX}.${x + Math.floor(offset / 256)}.${offset % 256}`;
}

/** Third octets of 10.213.0.0/16 covered by any address or route in `ipOutput` (`ip -o addr` / `ip -o route`). */
export function usedThirdOctets(ipOutput: string): Set<number> {
  const used = new Set<number>();
  for (const m of ipOutput.matchAll(/\b10\.213\.(\d+)\.\d+(?:\/(\d+))?/g)) {
    const third = Number(m[1]);
    const len = m[2] === undefined ? 32 : Number(m[2]);
    // A prefix shorter than /24 covers several third octets (a /22 lab, or anything wider).
    const span = len >= 24 ? 1 : 2 ** Math.min(8, 24 - len);
    const start = third - (third % span);
    for (let o = start; o < start + span; o++) used.add(o);
  }
  return used;
}

/**
 * Picks X for 10.213.X.0/prefix: starts from a hash of the dir, takes the first aligned block
 * none of whose /24s is on an address or route (so a /22 lab and /24 labs never overlap).
 */
async function freeSubnetOctet(dir: string, prefix: 24 | 22): Promise<number> {
  const used = usedThirdOctets((await run('ip', ['-o', 'addr'])).stdout + (await run('ip', ['-o', 'route'])).stdout);
  const span = 2 ** (24 - prefix);
  const start =
    Number.parseInt(
      createHash('sha256')
        .update(`${resolve(dir)}:subnet`)
        .digest('hex')
        .slice(0, 4),
      16,
    ) % 254;
  for (let i = 0; i < 254; i++) {
    // 1..254 for a /24 as before; a /22 starts on a multiple of 4 (4..248), never touching .0 or .255.
    const x = span === 1 ? ((start + i) % 254) + 1 : (((start + i) % 62) + 1) * span;
    const block = Array.from({ length: span }, (_, k) => x + k);
    if (block.every((o) => !used.has(o))) return x;
  }
  throw new LabError(`no free ${NET_PREFIX}.X.0/${prefix} subnet`, { path: dir });
}

/** Finds each host's pid 1 (the forked child of its `unshare --fork` launcher), which init.sh writes to init.pid. */
async function resolveInitPids(hosts: ContainerHost[]): Promise<void> {
  const deadline = Date.now() + 15_000 + 100 * hosts.length;
  let pending = hosts.filter((h) => h.driver.initPid === 0);
  while (pending.length > 0) {
    await Promise.all(
      pending.map(async (h) => {
        const d = h.driver;
        const pid = Number.parseInt(await readFile(join(h.dir, 'init.pid'), 'utf8').catch(() => ''), 10);
        // A stale file from an earlier boot names a pid that is not our launcher's child.
        if (pid > 0 && (await procState(pid))?.ppid === d.launcherPid) d.initPid = pid;
        else if (!(await pidRunning(d.launcherPid)) || Date.now() > deadline)
          throw new LabError(`host ${h.name} did not start its pid 1\n${h.log}:\n${await tail(h.log)}`, {
            host: h.name,
            launcherPid: d.launcherPid,
          });
      }),
    );
    pending = pending.filter((h) => h.driver.initPid === 0);
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 20));
  }
}

/** A pid recorded in state is ours only if it still runs something from this lab dir. */
async function isOurs(pid: number, dir: string): Promise<boolean> {
  if (!(await pidRunning(pid))) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(dir);
}

async function tail(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}
