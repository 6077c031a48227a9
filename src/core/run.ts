// Runs a playbook over the inventory's hosts: hosts in parallel (bounded by forks),
// tasks in order per host; one host's failure never stops the others.
import pLimit from 'p-limit';
import type { Connection, HostReport, Playbook, RunReport, Task, TaskContext } from './types.js';
import type { HostEntry, Inventory, SshTarget } from '../inventory/types.js';
import { runHost, type HostEvent, type HostWork, type Mode } from './engine.js';
import { JournalWriter, newRunId } from './journal.js';
import { ConnectionError } from './provision-error.js';

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
  const journal = o.mode === 'apply'
    ? new JournalWriter(o.stateDir, { id, kind: 'up', inventory: o.inventory.file, playbook: o.playbookName, ...(o.playbookFile ? { playbookFile: o.playbookFile } : {}) })
    : undefined;
  journal?.flush();
  const limit = pLimit(Math.max(1, o.forks));
  const emit = o.onEvent ?? (() => {});

  const reports = await Promise.all(o.hosts.map((h) => limit(async (): Promise<HostReport> => {
    emit({ type: 'host-start', host: h.name });
    let conn: Connection | undefined;
    let report: HostReport;
    try {
      emit({ type: 'phase', host: h.name, phase: 'connect' });
      conn = await o.connect(h.ssh);
      report = await runHost(conn, hostWork(o.inventory, o.playbook, h, o.projectDir), {
        mode: o.mode,
        tags: o.tags,
        onEvent: emit,
        onChange: journal ? (ch) => journal.record(h.name, ch) : undefined,
        onApplied: journal ? (ch) => journal.settle(h.name, ch) : undefined,
      });
      report.roundTrips += 1; // the connection itself
      if (journal?.host(h.name).changes.length) {
        report.roundTrips += 1;
        const failed = await journal.mirrorOn(conn, h.name);
        if (failed) report.error = failed;
      }
    } catch (err) {
      report = {
        host: h.name, tasks: [], recap: { ok: 0, changed: 0, failed: 0, skipped: 0 }, roundTrips: 0, durationMs: 0,
        error: err instanceof Error ? err.message : String(err),
        errorKind: err instanceof ConnectionError ? 'unreachable' : 'failed',
      };
    } finally {
      await conn?.close().catch(() => {});
    }
    const failed = !!report.error || report.recap.failed > 0;
    journal?.finishHost(h.name, report.errorKind === 'unreachable' ? 'unreachable' : failed ? 'failed' : 'ok', report.error);
    emit({ type: 'host-end', host: h.name, report });
    return report;
  })));

  const anyFailed = reports.some((r) => r.error || r.recap.failed > 0);
  journal?.finish(anyFailed ? 'failed' : 'ok');
  return {
    report: {
      id, mode: o.mode, inventory: o.inventory.file, playbook: o.playbookName,
      startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, hosts: reports,
    },
    journalPath: journal?.path,
  };
}
