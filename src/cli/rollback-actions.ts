// `rollback` and `runs` at work; loaded by rollback-commands.ts only when one of them runs.
import { resolve } from 'node:path';
import { loadInventory } from '../inventory/load.js';
import { selectHosts } from '../inventory/select.js';
import { openConnection } from '../ssh/index.js';
import { hostWork } from '../core/run.js';
import { EXIT } from '../core/errors.js';
import { listJournals } from '../core/journal.js';
import { executeRollback, findRun, handlersToRun, planRollback } from '../core/rollback.js';
import { loadPlaybook } from './playbook-loader.js';
import { err } from './common.js';
import { withRunLock } from './run-lock-cli.js';
import { lockingConnect } from '../core/run-lock.js';
import type { HostEntry } from '../inventory/types.js';
import { restoreInventoryEdit } from './drain-commands.js';

export async function rollbackAction(
  inv: string,
  runId: string | undefined,
  f: { check?: boolean; force?: boolean; limit?: string; forks: number; acceptNewHostKeys?: boolean; stateDir: string },
): Promise<void> {
  const inventory = loadInventory(inv);
  const stateDir = resolve(f.stateDir);
  const hosts = selectHosts(inventory, 'all', f.limit);
  const plan = planRollback(
    findRun(stateDir, inventory.file, runId),
    hosts.map((h) => h.name),
  );
  if (plan.alreadyRolledBackBy) {
    process.stdout.write(`run ${plan.run.id} was already rolled back by ${plan.alreadyRolledBackBy}: nothing to do\n`);
    return;
  }
  process.stdout.write(`rollback of run ${plan.run.id} (${plan.run.startedAt}, ${plan.run.status}), newest change first:\n`);
  for (const it of plan.items) {
    const what = it.undoable ? (it.change.pending ? 'undo (was being applied when the run stopped: may not have happened)' : 'undo') : 'CANNOT UNDO';
    process.stdout.write(`  ${it.host} | ${what} | ${it.change.summary}\n`);
  }
  for (const h of hosts) {
    const names = handlersToRun(plan.items.filter((it) => it.host === h.name));
    if (names.length) process.stdout.write(`  ${h.name} | then handlers, where needed | ${names.join(', ')}\n`);
  }
  if (f.check) return;
  // The run's playbook supplies the handlers (mon restarted after its config is restored): its
  // file as recorded, else (another operator's checkout) the playbook of that name here.
  const recorded = plan.run.playbookFile;
  const pb = await (recorded ? loadPlaybook(recorded).catch(() => loadPlaybook(plan.run.playbook)) : loadPlaybook(plan.run.playbook)).catch((e: Error) => {
    err(`warning: handlers will not run: ${e.message}`);
    return undefined;
  });
  // The state dir's lock for the command, and each host's lock from its connection on (as `up`).
  const r = await withRunLock(stateDir, `rollback ${plan.run.id}`, (owner) =>
    executeRollback({
      plan,
      stateDir,
      hosts,
      force: !!f.force,
      forks: f.forks,
      log: err,
      handlerWork: pb ? (h) => hostWork(inventory, pb.playbook, h, pb.projectDir) : undefined,
      connect: lockingConnect((h: HostEntry) => openConnection(h.ssh, { acceptNewHostKeys: !!f.acceptNewHostKeys }), owner),
    }),
  );
  for (const [host, h] of Object.entries(r.hosts)) {
    process.stdout.write(`${host} : undone=${h.undone} skipped=${h.skipped} handlers=${h.handlers.length}${h.error ? ` ERROR: ${h.error}` : ''}\n`);
  }
  err(`journal: ${r.journalPath}`);
  const failed = Object.values(r.hosts).some((h) => h.error);
  // A drain's run also edited the inventory: put it back too (only if nobody edited it since).
  if (!failed && plan.run.inventoryEdit) process.stdout.write(`${restoreInventoryEdit(plan.run.inventoryEdit)}\n`);
  process.exitCode = failed ? EXIT.failed : EXIT.ok;
}

export function runsAction(f: { stateDir: string }): void {
  for (const j of listJournals(resolve(f.stateDir))) {
    const changes = Object.values(j.hosts).reduce((n, h) => n + h.changes.length, 0);
    process.stdout.write(
      `${j.id}  ${j.startedAt}  ${j.user}  ${j.operation ?? j.kind}  ${j.inventory}  hosts=${Object.keys(j.hosts).length}  changes=${changes}  ${j.status}\n`,
    );
  }
}
