// Runs a playbook over the inventory's hosts: hosts in parallel (bounded by forks),
// tasks in order per host; one host's failure never stops the others.
import pLimit from 'p-limit';
import type { Connection, HostFacts, HostReport, Playbook, RunReport, Task, TaskContext } from './types.js';
import type { HostEntry, Inventory, SshTarget } from '../inventory/types.js';
import { runHost, type HostEvent, type HostWork, type Mode } from './engine.js';
import { JournalWriter, newRunId, type Journal } from './journal.js';
import { ConnectionError } from './provision-error.js';
import { TaskError } from './errors.js';
import { sh } from './shell.js';
import { FACTS_SCRIPT, parseFacts } from './facts.js';
import {
  HOST_LOCK,
  LockError,
  hostBreakScript,
  hostLockScript,
  hostUnlockScript,
  isStale,
  parseHostLock,
  whileInterruptible,
  type LockOwner,
} from './run-lock.js';

export type RunEvent = HostEvent | { type: 'host-start'; host: string } | { type: 'host-end'; host: string; report: HostReport };

export interface RunOptions {
  inventory: Inventory;
  playbook: Playbook;
  playbookName: string;
  /** The playbook's file, recorded in the journal for rollback's handlers. */
  playbookFile?: string;
  hosts: HostEntry[];
  mode: Mode;
  forks: number;
  tags?: string[];
  projectDir: string;
  /** Where run journals go (apply mode only). */
  stateDir: string;
  connect(target: SshTarget): Promise<Connection>;
  onEvent?(e: RunEvent): void;
  /** Extra journal fields (a drain's operation and inventory edit). */
  journalExtra?: Pick<Journal, 'operation' | 'inventoryEdit'>;
  /** This run's lock owner (apply): each host is locked for the run, taken in the facts round trip. */
  lock?: LockOwner;
}

/** Takes the host lock and gathers facts in one round trip; a stale lock of ours is taken over. */
async function lockAndFacts(conn: Connection, host: string, owner: LockOwner): Promise<{ facts: HostFacts; trips: number }> {
  let trips = 0;
  for (let attempt = 0; ; attempt++) {
    trips++;
    const r = await conn.exec(sh`( ${hostLockScript(owner)}\n)\necho '#provision-facts'\n${FACTS_SCRIPT}`, { become: true });
    const [lockOut = '', factsOut = ''] = r.stdout.split('#provision-facts\n');
    const got = parseHostLock(lockOut);
    if (got.acquired) {
      if (r.code !== 0) throw new TaskError(host, 'gather facts', `facts script exited ${r.code}: ${r.stderr.trim()}`);
      return { facts: parseFacts(factsOut), trips };
    }
    if (attempt === 0 && isStale(got.owner)) {
      trips++;
      await conn.exec(hostBreakScript(got.owner!), { become: true });
      continue;
    }
    throw new LockError(`${host}:${HOST_LOCK}`, got.owner);
  }
}

function inPlay(inv: Inventory, pattern: string, host: string): boolean {
  if (pattern === 'all' || pattern === host) return true;
  return inv.groups.get(pattern)?.includes(host) ?? false;
}

/** The tasks and handlers of every play that matches the host, in play order. */
export function hostWork(inventory: Inventory, playbook: Playbook, h: HostEntry, projectDir: string): HostWork {
  const plays = playbook.plays.filter((p) => inPlay(inventory, p.hosts, h.name));
  return {
    host: h.name,
    vars: h.vars,
    projectDir,
    inventory,
    build(ctx: TaskContext) {
      const tasks: Task[] = [];
      const handlers: Record<string, Task> = {};
      for (const p of plays) {
        tasks.push(...p.tasks(ctx));
        Object.assign(handlers, p.handlers?.(ctx) ?? {});
      }
      return { tasks, handlers };
    },
  };
}

export async function runPlaybook(o: RunOptions): Promise<{ report: RunReport; journalPath?: string }> {
  const id = newRunId();
  const started = Date.now();
  const journal =
    o.mode === 'apply'
      ? new JournalWriter(o.stateDir, {
          id,
          kind: 'up',
          inventory: o.inventory.file,
          playbook: o.playbookName,
          ...(o.playbookFile ? { playbookFile: o.playbookFile } : {}),
          ...o.journalExtra,
        })
      : undefined;
  journal?.flush();
  const limit = pLimit(Math.max(1, o.forks));
  const emit = o.onEvent ?? (() => {});

  // Ctrl-C: the journal (written ahead) is closed as failed, hosts still running marked interrupted.
  const interrupted = () => {
    if (!journal) return;
    for (const [name, h] of Object.entries(journal.journal.hosts)) if (h.status === 'running') journal.finishHost(name, 'failed', 'interrupted (Ctrl-C)');
    journal.finish('failed');
  };
  const reports = await whileInterruptible(interrupted, () =>
    Promise.all(
      o.hosts.map((h) =>
        limit(async (): Promise<HostReport> => {
          emit({ type: 'host-start', host: h.name });
          let conn: Connection | undefined;
          let report: HostReport;
          let locked = false;
          try {
            emit({ type: 'phase', host: h.name, phase: 'connect' });
            conn = await o.connect(h.ssh);
            let facts: HostFacts | undefined;
            let lockTrips = 0;
            if (o.lock) {
              emit({ type: 'phase', host: h.name, phase: 'lock + facts' });
              ({ facts, trips: lockTrips } = await lockAndFacts(conn, h.name, o.lock));
              locked = true;
            }
            report = await runHost(
              conn,
              hostWork(o.inventory, o.playbook, h, o.projectDir),
              {
                mode: o.mode,
                tags: o.tags,
                onEvent: emit,
                onChange: journal ? (ch) => journal.record(h.name, ch) : undefined,
                onApplied: journal ? (ch) => journal.settle(h.name, ch) : undefined,
              },
              facts,
            );
            report.roundTrips += 1 + lockTrips; // the connection itself (and the lock + facts round trip)
            if (journal?.host(h.name).changes.length) {
              // The host lock goes in the same round trip as the journal mirror, once the mirror is written.
              const unlock = locked && o.lock ? hostUnlockScript(o.lock) : undefined;
              report.roundTrips += 1;
              const failed = await journal.mirrorOn(conn, h.name, unlock);
              if (unlock && !failed) locked = false;
              if (failed) report.error = failed;
            }
          } catch (err) {
            report = {
              host: h.name,
              tasks: [],
              recap: { ok: 0, changed: 0, failed: 0, skipped: 0 },
              roundTrips: 0,
              durationMs: 0,
              error: err instanceof Error ? err.message : String(err),
              errorKind: err instanceof ConnectionError ? 'unreachable' : 'failed',
            };
          } finally {
            if (locked && conn && o.lock) {
              const released = await conn.exec(hostUnlockScript(o.lock), { become: true }).catch(() => undefined);
              if (released) report!.roundTrips += 1;
            }
            await conn?.close().catch(() => {});
          }
          const failed = !!report.error || report.recap.failed > 0;
          journal?.finishHost(h.name, report.errorKind === 'unreachable' ? 'unreachable' : failed ? 'failed' : 'ok', report.error);
          emit({ type: 'host-end', host: h.name, report });
          return report;
        }),
      ),
    ),
  );

  const anyFailed = reports.some((r) => r.error || r.recap.failed > 0);
  journal?.finish(anyFailed ? 'failed' : 'ok');
  return {
    report: {
      id,
      mode: o.mode,
      inventory: o.inventory.file,
      playbook: o.playbookName,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      hosts: reports,
    },
    journalPath: journal?.path,
  };
}
