// Snapshots of a whole VM lab: every VM saved under a tag (see snapshot.ts for the qemu side)
// together with each host's LAN plan, brought back as a lab or one host at a time, with
// the guests' clocks set to the controller's afterwards.
import { Script, sh } from '../../core/shell.js';
import { readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../../core/atomic-file.js';
import { join, resolve } from 'node:path';
import type { VmLabState } from '../driver.js';
import { LabCommandError, LabError, LabNotFoundError } from '../errors.js';
import { StateWriter } from '../state.js';
import { mustReadState, sshEndpoint, type VmHost } from './host-state.js';
import { setLanPlan, subnetsOf } from './lan-plan.js';
import { launch, stopAll, writeKnownHosts } from './lifecycle.js';
import { isOurQemu, stopQemu } from './qemu.js';
import { incomingFrom, resumeLoaded, saveVms } from './snapshot.js';
import { sshCloseMaster, sshExec } from './ssh.js';

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
export async function saveSnapshot(dir: string, tag: string): Promise<Record<string, number>> {
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
export async function restoreSnapshot(dir: string, tag: string): Promise<VmLabState> {
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
export async function restoreHost(dir: string, host: string, tag: string): Promise<VmLabState> {
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
