// `provision rollback`: undo a journaled run, host by host, newest change first, using the
// exact undo steps recorded when each change was applied. Refuses when a host drifted since the
// run (a later edit would be overwritten) unless forced; is itself journaled; a second rollback
// of the same run changes nothing.
import pLimit from 'p-limit';
import type { Connection, Evidence } from './types.js';
import type { HostEntry } from '../inventory/types.js';
import { evidenceOf, fromJournalStep, telling, JournalWriter, listJournals, newRunId, writeFileAtomic, type Journal, type JournalChange } from './journal.js';
import { runHost, runStep, type HostWork } from './engine.js';
import { batchProbes } from './batch.js';
import type { Script } from './shell.js';
import { TaskError, UsageError } from './errors.js';
import { join } from 'node:path';

export interface RollbackItem {
  host: string;
  change: JournalChange;
  undoable: boolean;
}

export interface RollbackPlan {
  run: Journal;
  items: RollbackItem[];
  /** Set when the run was already undone: nothing to do. */
  alreadyRolledBackBy?: string;
}

/** The run to undo: the given id, else the newest `up` of this inventory. */
export function findRun(stateDir: string, inventoryFile: string, id?: string): Journal {
  const runs = listJournals(stateDir);
  const run = id
    ? runs.find((j) => j.id === id)
    : runs.filter((j) => j.kind === 'up' && j.inventory === inventoryFile && Object.values(j.hosts).some((h) => h.changes.length)).pop();
  if (!run) throw new UsageError(id ? `no run ${id} in ${stateDir}/runs` : `no run of ${inventoryFile} with changes in ${stateDir}/runs`);
  if (run.kind !== 'up') throw new UsageError(`run ${run.id} is a ${run.kind}; only up runs can be rolled back`);
  return run;
}

export function planRollback(run: Journal, hosts?: string[]): RollbackPlan {
  const items: RollbackItem[] = [];
  for (const [host, h] of Object.entries(run.hosts)) {
    if (hosts && !hosts.includes(host)) continue;
    for (const change of [...h.changes].reverse()) items.push({ host, change, undoable: !!change.undo });
  }
  return { run, items, alreadyRolledBackBy: (run as Journal & { rolledBackBy?: string }).rolledBackBy };
}

export interface HostEvidence {
  /** What a later hand changed since the run ("<what> changed since run"). */
  drift: string[];
  /** Pending changes (their run stopped while they were sent) whose host still shows the before-state: never applied, nothing to undo. */
  unapplied: Set<JournalChange>;
}

/**
 * Reads every change's evidence on the host in one round trip. A change's host must show its
 * after-state (or, pending, its before-state); anything else is drift. Volatile evidence (a
 * service's running state) is read only for pending changes, to tell the never-applied ones.
 */
export async function readEvidence(conn: Connection, items: RollbackItem[]): Promise<HostEvidence> {
  // Only the last change of a path/key counts: earlier ones were overwritten by the run itself.
  const seen = new Set<string>();
  const checks: { e: Evidence; change: JournalChange }[] = [];
  for (const it of items) {
    const e = evidenceOf(it.change);
    if (!e || seen.has(e.what)) continue;
    seen.add(e.what);
    if (e.volatile && !it.change.pending) continue;
    checks.push({ e, change: it.change });
  }
  const found: HostEvidence = { drift: [], unapplied: new Set() };
  if (!checks.length) return found;
  const batch = batchProbes(checks.map((c) => c.e.check));
  const r = await conn.exec(batch.script, { become: true });
  const outs = batch.split(r.stdoutBytes);
  checks.forEach(({ e, change }, i) => {
    const got = outs[i]!.stdout.replace(/ +\n$/, '\n');
    // The before-state proves "never applied" only when it differs from the after-state.
    if (change.pending && telling(e) && got === e.before) found.unapplied.add(change);
    else if (!e.volatile && got !== e.after && !(change.pending && got === e.before)) found.drift.push(`${e.what} changed since run`);
  });
  return found;
}

export interface RollbackResult {
  journalPath: string;
  hosts: Record<string, { undone: number; skipped: number; handlers: string[]; error?: string; drift?: string[] }>;
}

/** The handlers the undone changes' tasks had notified, once each, in first-notified order. */
export function handlersToRun(items: RollbackItem[]): string[] {
  return [...new Set(items.filter((it) => it.undoable).flatMap((it) => it.change.notify ?? []))];
}

/**
 * Runs the named handlers of the run's playbook on one host, through the engine (probe, plan,
 * apply), e.g. `restart mon` after mon.cf was restored. Returns the handlers that changed something.
 */
async function runRollbackHandlers(
  conn: Connection,
  work: HostWork,
  names: string[],
  record: (ch: JournalChange) => void,
  settle: (ch: JournalChange) => void,
  log: (line: string) => void,
): Promise<string[]> {
  const ran: string[] = [];
  const report = await runHost(
    conn,
    {
      ...work,
      build(ctx) {
        const { handlers } = work.build(ctx);
        for (const n of names.filter((x) => !handlers[x])) log(`${work.host} | warning | handler "${n}" is no longer in the playbook: not run`);
        // Declaration order, as after an up.
        return {
          tasks: Object.keys(handlers)
            .filter((n) => names.includes(n))
            .map((n) => handlers[n]!),
          handlers: {},
        };
      },
    },
    {
      mode: 'apply',
      onChange: (ch) => record({ ...ch, task: `handler ${ch.task}` }),
      onApplied: (ch) => settle({ ...ch, task: `handler ${ch.task}` }),
      onEvent: (e) => {
        if (e.type !== 'task-end') return;
        const r = e.report;
        if (r.status === 'changed') ran.push(r.task);
        log(
          `${work.host} | handler | ${r.task}: ${r.status === 'changed' ? r.changes.map((c) => c.summary).join('; ') : r.status === 'ok' ? 'nothing to do' : `FAILED ${r.error ?? ''}`}`,
        );
      },
    },
  );
  const failed = report.error ?? report.tasks.find((t) => t.status === 'failed')?.error;
  if (failed) throw new TaskError(work.host, 'rollback handlers', `handler failed: ${failed}`);
  return ran;
}

export async function executeRollback(o: {
  plan: RollbackPlan;
  stateDir: string;
  hosts: HostEntry[];
  force: boolean;
  forks: number;
  connect(h: HostEntry): Promise<Connection>;
  log(line: string): void;
  /** The run's playbook for a host, whose handlers run after the undo; absent: no handlers. */
  handlerWork?(h: HostEntry): HostWork;
}): Promise<RollbackResult> {
  const id = newRunId();
  const journal = new JournalWriter(o.stateDir, {
    id,
    kind: 'rollback',
    undoes: o.plan.run.id,
    inventory: o.plan.run.inventory,
    playbook: o.plan.run.playbook,
  });
  journal.flush();
  const result: RollbackResult = { journalPath: journal.path, hosts: {} };
  const byHost = new Map<string, RollbackItem[]>();
  for (const it of o.plan.items) byHost.set(it.host, [...(byHost.get(it.host) ?? []), it]);
  const limit = pLimit(o.forks);
  // Phase 1, every host: connect and look for drift. Any drift refuses the whole rollback, so a
  // refused rollback changes nothing anywhere.
  const conns = new Map<string, Connection>();
  const notApplied = new Map<string, Set<JournalChange>>();
  await Promise.all(
    [...byHost].map(([host, items]) =>
      limit(async () => {
        const res = (result.hosts[host] = { undone: 0, skipped: 0, handlers: [] } as RollbackResult['hosts'][string]);
        const entry = o.hosts.find((h) => h.name === host);
        if (!entry) {
          res.error = `${host} is not in the inventory`;
          return;
        }
        try {
          const conn = await o.connect(entry);
          conns.set(host, conn);
          const { drift, unapplied } = await readEvidence(conn, items);
          if (drift.length) res.drift = drift;
          notApplied.set(host, unapplied);
        } catch (e) {
          res.error = (e as Error).message;
        }
      }),
    ),
  );
  const drifted = Object.entries(result.hosts).filter(([, h]) => h.drift?.length);
  const blocked = Object.values(result.hosts).some((h) => h.error) || (drifted.length > 0 && !o.force);
  if (blocked) {
    for (const [host, h] of Object.entries(result.hosts)) {
      h.error ??= h.drift?.length
        ? `refusing: ${h.drift.join('; ')} (a rollback would overwrite that; --force to roll back anyway)`
        : 'not rolled back: another host blocks the rollback';
      journal.finishHost(host, 'failed', h.error);
    }
    await Promise.all([...conns.values()].map((c) => c.close().catch(() => {})));
    journal.finish('failed');
    return result;
  }
  // Phase 2: undo, newest change first.
  await Promise.all(
    [...byHost].map(([host, items]) =>
      limit(async () => {
        const res = result.hosts[host]!;
        const conn = conns.get(host);
        try {
          const c = conn!;
          const exec = (script: Script, stdin?: string | Buffer) => c.exec(script, { become: true, stdin });
          const unapplied = notApplied.get(host) ?? new Set<JournalChange>();
          const todo = items.filter((it) => !unapplied.has(it.change));
          for (const it of items) {
            if (unapplied.has(it.change)) {
              res.skipped++;
              o.log(`${host} | skipped | ${it.change.summary} (pending and never applied: the host shows the state before it)`);
              continue;
            }
            if (!it.change.undo) {
              res.skipped++;
              o.log(`${host} | skipped | ${it.change.summary} (no exact undo)`);
              continue;
            }
            let output = '';
            for (const step of it.change.undo.map(fromJournalStep)) {
              output += await runStep({ exec: (s, stdin) => exec(s, stdin), upload: (a, b, m) => c.upload(a, b, m) }, host, `undo ${it.change.task}`, step);
            }
            res.undone++;
            o.log(`${host} | undone  | ${it.change.summary}`);
            journal.record(host, {
              task: `undo ${it.change.task}`,
              module: it.change.module,
              summary: `undo: ${it.change.summary}`,
              before: it.change.after,
              after: it.change.before,
              output: output || undefined,
              at: new Date().toISOString(),
            });
          }
          const notified = handlersToRun(todo);
          const entry = o.hosts.find((h) => h.name === host)!;
          if (notified.length && o.handlerWork) {
            res.handlers = await runRollbackHandlers(
              c,
              o.handlerWork(entry),
              notified,
              (ch) => journal.record(host, ch),
              (ch) => journal.settle(host, ch),
              o.log,
            );
          } else if (notified.length) {
            o.log(`${host} | warning | handlers not run (playbook unavailable): ${notified.join(', ')}`);
          }
          journal.finishHost(host, 'ok');
        } catch (e) {
          res.error = (e as Error).message;
          journal.finishHost(host, 'failed', res.error);
        } finally {
          await conn?.close().catch(() => {});
        }
      }),
    ),
  );
  const failed = Object.values(result.hosts).some((h) => h.error);
  journal.finish(failed ? 'failed' : 'ok');
  if (!failed) {
    // Mark the undone run so a second rollback knows there is nothing left to do.
    const runPath = join(o.stateDir, 'runs', `${o.plan.run.id}.json`);
    writeFileAtomic(runPath, `${JSON.stringify({ ...o.plan.run, rolledBackBy: id }, null, 2)}\n`);
  }
  return result;
}
