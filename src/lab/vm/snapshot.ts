// Saving running VMs to files and starting them again from those files (qemu migration
// to/from `exec:cat`: qemu 7.2 has no `file:` URI). A restore takes seconds where a boot
// takes a minute under TCG, and returns every VM to exactly the saved moment: RAM holds
// all of a lab VM's writable state (its root is a tmpfs overlay over a read-only disk).
import { rename, rm } from 'node:fs/promises';
import { sh } from '../../core/shell.js';
import { LabCommandError, LabTimeoutError } from '../errors.js';
import { QmpClient, withQmp } from './qmp.js';

// Bytes/s. qemu's default (32 MiB/s) is meant for a shared network, not a local file.
const MIGRATE_BANDWIDTH = 8 * 1024 ** 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface VmToSave {
  host: string;
  qmpSocket: string;
  /** Where the saved state goes (written to a temp name, renamed when complete). */
  file: string;
}

interface MigrationInfo {
  status?: string;
  'error-desc'?: string;
  ram?: { transferred?: number };
}

/** The `-incoming` URI that starts a VM from `file`. */
export const incomingFrom = (file: string) => sh`exec:cat ${file}`.text;

async function migrateToFile(qmp: QmpClient, vm: VmToSave, timeoutMs: number): Promise<number> {
  const tmp = `${vm.file}.tmp`;
  await qmp.execute('migrate-set-parameters', { 'max-bandwidth': MIGRATE_BANDWIDTH });
  await qmp.execute('migrate', { uri: sh`exec:cat > ${tmp}`.text });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await qmp.execute<MigrationInfo>('query-migrate');
    if (info.status === 'completed') {
      await rename(tmp, vm.file);
      return info.ram?.transferred ?? 0;
    }
    if (info.status === 'failed' || info.status === 'cancelled') {
      await rm(tmp, { force: true });
      throw new LabCommandError(`saving ${vm.host} failed: ${info['error-desc'] ?? info.status}`, { host: vm.host, path: vm.file });
    }
    if (Date.now() > deadline) {
      await qmp.execute('migrate_cancel').catch(() => {});
      await rm(tmp, { force: true });
      throw new LabTimeoutError(`saving ${vm.host}: not done within ${timeoutMs} ms`, { host: vm.host, path: vm.file });
    }
    await sleep(100);
  }
}

/**
 * Pauses every VM first (so the saved VMs are one consistent moment of the LAN), saves
 * each, then resumes all of them, also when saving failed. Returns bytes written per host.
 */
export async function saveVms(vms: VmToSave[], timeoutMs = 120_000): Promise<Record<string, number>> {
  const clients = await Promise.all(vms.map((v) => QmpClient.connect(v.qmpSocket)));
  try {
    await Promise.all(clients.map((c) => c.execute('stop')));
    const sizes = await Promise.all(vms.map((v, i) => migrateToFile(clients[i]!, v, timeoutMs)));
    return Object.fromEntries(vms.map((v, i) => [v.host, sizes[i]!]));
  } finally {
    await Promise.all(clients.map((c) => c.execute('cont').catch(() => {})));
    for (const c of clients) c.close();
  }
}

/**
 * Waits until a VM started with `-incoming` has loaded its state, then resumes it: the
 * state was saved paused (see saveVms), and a loaded VM keeps the run state it was saved in.
 */
export async function resumeLoaded(host: string, qmpSocket: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The socket exists once qemu has daemonized; a stale one from the previous qemu refuses.
    const status = await withQmp(qmpSocket, async (qmp) => {
      const s = (await qmp.execute<{ status: string }>('query-status')).status;
      if (s === 'paused') await qmp.execute('cont');
      return s;
    }).catch(() => 'unreachable');
    if (status === 'running' || status === 'paused') return;
    if (status !== 'inmigrate' && status !== 'unreachable' && status !== 'prelaunch') {
      throw new LabCommandError(`${host} did not resume from its saved state (status ${status})`, { host, path: qmpSocket });
    }
    if (Date.now() > deadline)
      throw new LabTimeoutError(`${host}: saved state not loaded within ${timeoutMs} ms (status ${status})`, { host, path: qmpSocket });
    await sleep(100);
  }
}
