// The engine: for one host, probe every task in one round trip, plan, apply only what
// differs, run notified handlers. It knows tasks and connections, nothing of LVS or SSH.
import type { Connection, HostFacts, HostReport, PlannedChange, ProbeOutput, Step, Task, TaskContext, TaskReport, TaskStatus } from './types.js';
import { batchProbes } from './batch.js';
import { footprintOf, meets } from './footprint.js';
import { FACTS_SCRIPT, parseFacts } from './facts.js';
import { TaskError } from './errors.js';
import type { Inventory } from '../inventory/types.js';
import { toJournalEvidence, toJournalStep, type JournalChange } from './journal.js';
import type { Script } from './shell.js';

export type Mode = 'apply' | 'check';

export type HostEvent =
  | { type: 'phase'; host: string; phase: string }
  | { type: 'task-start'; host: string; task: string; index: number; total: number }
  | { type: 'task-end'; host: string; report: TaskReport }
  | { type: 'command'; host: string; display: string };

export interface HostRunOptions {
  mode: Mode;
  /** Only tasks carrying one of these tags (handlers are always eligible). */
  tags?: string[];
  onEvent?: (e: HostEvent) => void;
  /**
   * The run journal, written ahead: onChange before a change is applied (marked pending), then
   * onApplied once its steps succeeded. A run that dies in between leaves the change pending.
   */
  onChange?: (change: JournalChange) => void;
  onApplied?: (change: JournalChange) => void;
}

/** Host-side view the engine needs to build tasks once facts are known. */
export interface HostWork {
  host: string;
  vars: Record<string, unknown>;
  projectDir: string;
  inventory?: Inventory;
  /** Builds tasks and handlers from facts (playbooks branch on facts). */
  build(ctx: TaskContext): { tasks: Task[]; handlers: Record<string, Task> };
}

/** Counts round trips so benchmarks and reports can show O(1) probing. */
class CountingConnection {
  roundTrips = 0;
  constructor(
    readonly conn: Connection,
    private readonly onEvent?: (e: HostEvent) => void,
  ) {}
  async exec(script: Script, stdin?: string | Buffer, display?: string) {
    this.roundTrips++;
    this.onEvent?.({ type: 'command', host: this.conn.host, display: display ?? script.display });
    return this.conn.exec(script, { become: true, stdin });
  }
  async upload(local: string, remote: string, mode?: number) {
    this.roundTrips++;
    this.onEvent?.({ type: 'command', host: this.conn.host, display: `upload ${local} -> ${remote}` });
    return this.conn.upload(local, remote, mode);
  }
}

export async function gatherFacts(conn: Connection): Promise<HostFacts> {
  const r = await conn.exec(FACTS_SCRIPT, { become: true });
  if (r.code !== 0) throw new TaskError(conn.host, 'gather facts', `facts script exited ${r.code}`, { stderr: r.stderr });
  return parseFacts(r.stdout);
}

function emptyRecap(): Record<TaskStatus, number> {
  return { ok: 0, changed: 0, failed: 0, skipped: 0 };
}

function selected(task: Task, tags?: string[]): boolean {
  if (!tags || tags.length === 0) return true;
  return (task.tags ?? []).some((t) => tags.includes(t));
}

export async function runHost(conn: Connection, work: HostWork, opts: HostRunOptions, facts?: HostFacts): Promise<HostReport> {
  const started = Date.now();
  const c = new CountingConnection(conn, opts.onEvent);
  const report: HostReport = { host: work.host, tasks: [], recap: emptyRecap(), roundTrips: 0, durationMs: 0 };
  const emit = opts.onEvent ?? (() => {});
  try {
    emit({ type: 'phase', host: work.host, phase: 'facts' });
    if (!facts) {
      c.roundTrips++;
      facts = await gatherFacts(conn);
    }
    const ctx: TaskContext = { host: work.host, facts, vars: work.vars, projectDir: work.projectDir, inventory: work.inventory };
    const { tasks: allTasks, handlers } = work.build(ctx);
    const tasks = allTasks.filter((t) => selected(t, opts.tags));
    const notified = new Set<string>();

    const runList = async (list: Task[]): Promise<boolean> => {
      // A probe result stays valid until a change may have altered what it read (the tasks'
      // footprints); then the stale ones among the remaining tasks are re-probed in one batch.
      const states: (ProbeOutput | undefined)[] = [];
      const probes = list.map((t) => t.probe(ctx));
      const prints = list.map((t) => footprintOf(t, ctx));
      for (let i = 0; i < list.length; i++) {
        const task = list[i]!;
        emit({ type: 'task-start', host: work.host, task: task.name, index: i, total: list.length });
        const t0 = Date.now();
        const tr: TaskReport = { task: task.name, module: task.module, status: 'ok', changes: [], durationMs: 0 };
        try {
          if (!states[i]) {
            const stale: number[] = [];
            for (let j = i; j < list.length; j++) if (!states[j]) stale.push(j);
            emit({ type: 'phase', host: work.host, phase: `probe ${stale.length} task(s)` });
            const batch = batchProbes(stale.map((j) => probes[j]!.script));
            const r = await c.exec(batch.script, undefined, `probe ${stale.length} task(s) in one batch`);
            batch.split(r.stdout).forEach((out, k) => {
              states[stale[k]!] = out;
            });
          }
          const state = probes[i]!.parse(states[i]!);
          const notes = task.notes?.(state, ctx) ?? [];
          if (notes.length) tr.notes = notes;
          const changes = await task.plan(state, ctx);
          tr.changes = changes.map(({ summary, reason, diff }) => ({ summary, reason, diff }));
          if (changes.length > 0) {
            tr.status = 'changed';
            if (opts.mode === 'apply') {
              for (const ch of changes) await applyChange(c, work.host, task, ch, opts);
              for (let j = i + 1; j < list.length; j++) if (meets(prints[i]!, prints[j]!)) states[j] = undefined;
            }
            for (const h of task.notify ?? []) notified.add(h);
          }
        } catch (err) {
          tr.status = 'failed';
          tr.error = err instanceof Error ? err.message : String(err);
        }
        tr.durationMs = Date.now() - t0;
        report.tasks.push(tr);
        report.recap[tr.status]++;
        emit({ type: 'task-end', host: work.host, report: tr });
        if (tr.status === 'failed') return false;
      }
      return true;
    };

    const ok = await runList(tasks);
    if (ok && notified.size > 0) {
      const unknown = [...notified].filter((n) => !handlers[n]);
      if (unknown.length) throw new TaskError(work.host, 'handlers', `notified handler(s) not defined: ${unknown.join(', ')}`);
      // Handlers run in their declaration order, once each.
      await runList(
        Object.keys(handlers)
          .filter((n) => notified.has(n))
          .map((n) => handlers[n]!),
      );
    }
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
  }
  report.roundTrips = c.roundTrips;
  report.durationMs = Date.now() - started;
  return report;
}

async function applyChange(c: CountingConnection, host: string, task: Task, ch: PlannedChange, opts: HostRunOptions): Promise<void> {
  const entry: JournalChange = {
    task: task.name,
    module: task.module,
    summary: ch.summary,
    before: ch.before,
    after: ch.after,
    undo: ch.undo?.map(toJournalStep),
    ...(ch.evidence ? { evidence: toJournalEvidence(ch.evidence) } : {}),
    ...(task.notify?.length ? { notify: [...task.notify] } : {}),
    at: new Date().toISOString(),
  };
  opts.onChange?.({ ...entry, pending: true });
  const outputs: string[] = [];
  for (const step of ch.apply) {
    const out = await runStep(c, host, task.name, step);
    if (out) outputs.push(out);
  }
  opts.onApplied?.({ ...entry, ...(outputs.length ? { output: outputs.join('') } : {}) });
}

/** Runs one step; a non-zero exit becomes a TaskError naming host, task and stderr. */
export async function runStep(
  c: { exec: CountingConnection['exec']; upload: CountingConnection['upload'] },
  host: string,
  task: string,
  step: Step,
): Promise<string> {
  if (step.kind === 'upload') {
    await c.upload(step.localPath, step.remotePath, step.mode);
    return '';
  }
  const r = await c.exec(step.script, step.stdin);
  if (r.code !== 0) {
    const why = (r.stderr.trim() || r.stdout.trim() || '(no output)').split('\n').slice(-5).join('\n');
    throw new TaskError(host, task, `command exited ${r.code}: ${why}`, { script: step.script.display, code: r.code, stderr: r.stderr });
  }
  return r.stdout;
}
