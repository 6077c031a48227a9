// Runs a playbook over the inventory's hosts: hosts in parallel (bounded by forks),
// tasks in order per host; one host's failure never stops the others.
import pLimit from 'p-limit';
import type { Connection, HostReport, Playbook, RunReport, Task, TaskContext } from './types.js';
import type { HostEntry, Inventory, SshTarget } from '../inventory/types.js';
import { runHost, type HostEvent, type HostGate, type HostWork, type Mode } from './engine.js';
import { JournalWriter, newRunId, type Journal } from './journal.js';
import { ConnectionError } from './provision-error.js';
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
import { FactsCache } from './facts-cache.js';

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
  /** This run's lock owner (apply): each host's lock is taken in its first round trip and held to its last script (run-lock.ts). */
  lock?: LockOwner;
  /** Where the host lock lives (HOST_LOCK; tests point it elsewhere). */
  hostLockDir?: string;
}

/** The run's host lock as the engine's gate: taken in the first round trip (see run-lock.ts). */
export interface LockGate extends HostGate {
  /** Taken by this run (released by the host's last script or by the run). */
  held: boolean;
  /** The holder that refused us when it is a dead run of this controller (taken over, then retried). */
  stale?: LockOwner;
}

export function lockGate(host: string, owner: LockOwner, dir = HOST_LOCK): LockGate {
  const gate: LockGate = {
    probe: hostLockScript(owner, dir),
    held: false,
    check(out) {
      const got = parseHostLock(out.stdout);
      if (got.acquired) {
        gate.held = true;
        return;
      }
      gate.stale = isStale(got.owner) ? got.owner : undefined;
      throw new LockError(`${host}:${dir}`, got.owner);
    },
  };
  return gate;
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
  const lockDir = o.hostLockDir ?? HOST_LOCK;
  const facts = new FactsCache(o.stateDir);
  const emit = o.onEvent ?? (() => {});

  // Ctrl-C: the journal (written ahead) is closed as failed, hosts still running marked interrupted.
  const interrupted = () => {
    if (!journal) return;
    for (const [name, h] of Object.entries(journal.journal.hosts)) if (h.status === 'running') journal.finishHost(name, 'failed', 'interrupted (Ctrl-C)');
    journal.finish('failed');
  };
  // A host's connection closes while the next host starts: its fork is free once its work is done
  // (the server's teardown is not work of ours); the run ends when every connection has closed.
  const closing: Promise<void>[] = [];
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
            let gate = o.lock ? lockGate(h.name, o.lock, lockDir) : undefined;
            const cached = facts.get(h.name);
            // The last script of a host carries its journal mirror and the lock's release, as the
            // journal will read once that script's changes are settled (the script reaches it only then).
            let mirrored: string | undefined;
            let predicted: string | undefined;
            const finish = journal
              ? {
                  build: () => {
                    const unlock = o.lock ? hostUnlockScript(o.lock, lockDir) : undefined;
                    const m = journal.mirrorScript(h.name, { settled: true, after: unlock });
                    predicted = m.body;
                    return { script: m.script, stdin: Buffer.from(m.body) };
                  },
                  ran: (code: number) => {
                    if (gate) gate.held = false; // released whatever the mirror did
                    mirrored = code === 0 ? predicted : undefined;
                  },
                }
              : undefined;
            const runIt = () =>
              runHost(conn!, hostWork(o.inventory, o.playbook, h, o.projectDir), {
                mode: o.mode,
                tags: o.tags,
                onEvent: emit,
                ...journal?.hooks(h.name),
                ...(cached ? { cachedFacts: cached.facts, ...(cached.reads ? { cachedReads: cached.reads } : {}) } : {}),
                onFacts: (f, reads) => facts.put(h.name, { facts: f, reads }),
                ...(gate ? { gate } : {}),
                ...(finish ? { finish } : {}),
              });
            report = await runIt();
            // A lock left by a dead run of this controller (killed before its cleanup): taken over once.
            if (gate?.stale && o.lock) {
              const extra = report.roundTrips + 1;
              await conn.exec(hostBreakScript(gate.stale, lockDir), { become: true });
              gate = lockGate(h.name, o.lock, lockDir);
              report = await runIt();
              report.roundTrips += extra;
            }
            locked = !!gate?.held;
            report.roundTrips += 1; // the connection itself
            const changes = journal?.host(h.name).changes.length ?? 0;
            // The mirror went with the last script unless the script stopped early or the journal
            // gained something the prediction did not hold (a step's output): then its own round trip.
            if (journal && changes && mirrored !== journal.mirrorBody(h.name, false)) {
              const unlock = locked && o.lock ? hostUnlockScript(o.lock, lockDir) : undefined;
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
              const released = await conn.exec(hostUnlockScript(o.lock, lockDir), { become: true }).catch(() => undefined);
              if (released) report!.roundTrips += 1;
            }
            if (conn) closing.push(conn.close().catch(() => {}));
          }
          const failed = !!report.error || report.recap.failed > 0;
          journal?.finishHost(h.name, report.errorKind === 'unreachable' ? 'unreachable' : failed ? 'failed' : 'ok', report.error);
          emit({ type: 'host-end', host: h.name, report });
          return report;
        }),
      ),
    ),
  );

  await Promise.all(closing);
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
