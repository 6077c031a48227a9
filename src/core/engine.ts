// The engine: for one host, probe every task in one round trip, plan, apply only what differs,
// run notified handlers. It knows tasks and connections, nothing of LVS or SSH.
//
// Round trips: the changes of a host that do not depend on each other's results go to the host
// together, in one script (core/apply-script.ts): every step framed by markers that carry its exit
// status, the journal settled per change from those markers. A task planned on a probe result that
// an earlier change of the same script may have altered (the footprints meet) is guarded: the
// script re-runs its probe before its steps and stops there when the output differs, printing the
// fresh probe outputs, and the engine plans again from them. The re-probes of later tasks go at the
// end of the same script. A no-op run is one round trip (facts, the run lock's take and every
// probe) when facts from an earlier run are at hand; the lock's release is the run's (core/run.ts).
import type {
  Connection,
  Footprint,
  HostFacts,
  HostReport,
  PlannedChange,
  Probe,
  ProbeOutput,
  Step,
  Task,
  TaskContext,
  TaskReport,
  TaskStatus,
} from './types.js';
import { batchProbes, type ProbeItem } from './batch.js';
import { footprintOf, meets } from './footprint.js';
import { BASE_FACTS_SCRIPT, COSTLY_FACTS, FACTS_SCRIPT, parseFacts, sameFacts } from './facts.js';
import { FactsReads, type FactKey } from './facts-reads.js';
import { TaskError } from './errors.js';
import { ConnectionError } from './provision-error.js';
import type { Inventory } from '../inventory/types.js';
import { telling, toJournalEvidence, toJournalStep, type JournalChange } from './journal.js';
import type { Script } from './shell.js';
import { buildApplyScript, GUARD_LIMIT, SCRIPT_BUDGET, type ApplyResult, type ApplyScriptInput, type BatchItem } from './apply-script.js';

export type Mode = 'apply' | 'check';

export type HostEvent =
  | { type: 'phase'; host: string; phase: string }
  | { type: 'task-start'; host: string; task: string; index: number; total: number }
  | { type: 'task-end'; host: string; report: TaskReport }
  | { type: 'command'; host: string; display: string };

/**
 * A gate the host must pass before anything else (the run's host lock, core/run-lock.ts): taken in
 * the first round trip, with the facts and the probes.
 */
export interface HostGate {
  /** Shell that takes the gate, run first in the first round trip. */
  probe: Script;
  /** Gets its output; throws to refuse the host (the gate is held by another run). */
  check(out: ProbeOutput): void;
}

/** What the last script of a host may carry (the journal mirror and the gate's release). */
export interface HostFinish {
  build(): { script: Script; stdin?: Buffer } | undefined;
  /** It ran with this exit status (the script reached it: every change of the host succeeded). */
  ran(code: number): void;
}

export interface HostRunOptions {
  mode: Mode;
  /** Only tasks carrying one of these tags (handlers are always eligible). */
  tags?: string[];
  onEvent?: (e: HostEvent) => void;
  /**
   * The run journal, written ahead: onChange before a change is sent (marked pending), then
   * onApplied once its steps succeeded. A run that dies in between leaves the change pending;
   * onDropped removes one whose script certainly stopped before it.
   */
  onChange?: (change: JournalChange) => void;
  onApplied?: (change: JournalChange) => void;
  onDropped?: (change: JournalChange) => void;
  /**
   * Makes the journal durable: called once after a batch's onChange calls (before its script is
   * sent) and once after its onApplied/onDropped calls. Without it, each call must be durable itself.
   */
  onJournalSync?: () => void;
  /** Facts of this host from an earlier run: tasks are built from them and probed with the facts; rebuilt when the facts differ. */
  cachedFacts?: HostFacts;
  /** The keys of the cached facts the earlier run read: none of the costly ones, and only the others are gathered. */
  cachedReads?: readonly FactKey[];
  /** The host's facts once its run is over (gathered, or cached where not read), and the keys it read. */
  onFacts?: (facts: HostFacts, reads: FactKey[]) => void;
  gate?: HostGate;
  finish?: HostFinish;
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
  return factsOf(conn.host, await conn.exec(FACTS_SCRIPT, { become: true }));
}

/** The facts script's result as facts; a failed script is the host's failure. */
function factsOf(host: string, r: { code: number; stdout: string; stderr: string }): HostFacts {
  if (r.code !== 0) throw new TaskError(host, 'gather facts', `facts script exited ${r.code}`, { stderr: r.stderr });
  return parseFacts(r.stdout);
}

function emptyRecap(): Record<TaskStatus, number> {
  return { ok: 0, changed: 0, failed: 0, skipped: 0 };
}

function selected(task: Task, tags?: string[]): boolean {
  if (!tags || tags.length === 0) return true;
  return (task.tags ?? []).some((t) => tags.includes(t));
}

/** A probe that cannot be read where the loop runs (the offline render of a probe with no blank state): the task is skipped. */
export interface Unreadable {
  skip: string;
}

/** One task of the host's run: its probe, footprint and last probe output (undefined = unknown or stale). */
export interface Slot {
  task: Task;
  probe: Probe<unknown>;
  print: Footprint;
  state?: ProbeOutput | Unreadable;
  /** A handler's slot (after every task): planned only once a changed task notified it. */
  handler?: string;
}

/** One batch of changes for the target: what buildApplyScript takes, with the probes, changes and -v text. */
export interface ApplyBatch extends Omit<ApplyScriptInput, 'probes'> {
  probes: ReadonlyMap<number, Probe<unknown>>;
  /** Changes by index (StepItem.change), with the task that planned each. */
  changes: readonly { task: Task; ch: PlannedChange }[];
  display: string;
}

/**
 * Where the task loop reads state and sends changes: a host over its connection, or a virtual host
 * (the offline render). One call is one round trip on a host.
 */
export interface LoopTarget {
  probe(slots: readonly Slot[]): Promise<(ProbeOutput | Unreadable)[]>;
  apply(batch: ApplyBatch): Promise<ApplyResult>;
  /** Called once plans are made, before any is reported, journaled or sent; throws to stop the host. */
  settle?(): Promise<void>;
}

const readable = (s: ProbeOutput | Unreadable | undefined): s is ProbeOutput => !!s && !('skip' in s);

/** The target of a real host: probes in one batch, a batch of changes in one script. */
function hostTarget(c: CountingConnection): LoopTarget {
  return {
    async probe(slots) {
      const batch = batchProbes(slots.map((s) => s.probe));
      const r = await c.exec(batch.script, undefined, `probe ${slots.length} task(s) in one batch`);
      return batch.split(r.stdoutBytes);
    },
    async apply(b) {
      const script = buildApplyScript({
        ...b,
        probes: new Map([...b.probes].map(([k, p]) => [k, p.script] as const)),
        // The re-probes after the last step share their reads too (every file touched: one stat).
        ...(b.tail.length ? { tailBatch: batchProbes(b.tail.map((k) => b.probes.get(k)!)) } : {}),
      });
      const r = await c.exec(script.script, script.stdin, b.display);
      return script.parse(r.stdoutBytes, r.stderr);
    },
  };
}

/** The selected tasks of a host built from its facts, as loop slots. */
export function buildSlots(
  work: HostWork,
  facts: HostFacts,
  tags?: string[],
): { ctx: TaskContext; built: { tasks: Task[]; handlers: Record<string, Task> }; slots: Slot[] } {
  const ctx: TaskContext = { host: work.host, facts, vars: work.vars, projectDir: work.projectDir, inventory: work.inventory };
  const built = work.build(ctx);
  // Handlers are slots too, in declaration order after the tasks: probed with them, so a notified
  // handler goes in the same script as what notified it (guarded like any task).
  const handlers = Object.entries(built.handlers).map(([name, t]) => ({ ...slotOf(t, ctx), handler: name }));
  return { ctx, built, slots: [...built.tasks.filter((t) => selected(t, tags)).map((t) => slotOf(t, ctx)), ...handlers] };
}

const slotOf = (task: Task, ctx: TaskContext): Slot => ({ task, probe: task.probe(ctx), print: footprintOf(task, ctx) });

function journalEntry(task: Task, ch: PlannedChange): JournalChange {
  return {
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
}

export async function runHost(conn: Connection, work: HostWork, opts: HostRunOptions, facts?: HostFacts): Promise<HostReport> {
  const started = Date.now();
  const c = new CountingConnection(conn, opts.onEvent);
  const report: HostReport = { host: work.host, tasks: [], recap: emptyRecap(), roundTrips: 0, durationMs: 0 };
  try {
    await runOnce(c, work, opts, report, facts);
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
    // Only a broken connection is "unreachable"; a refused lock or a host the inventory cannot
    // work with (no mon for its OS, a facts script that failed) is a failure of that host.
    report.errorKind = err instanceof ConnectionError ? 'unreachable' : 'failed';
  }
  report.roundTrips = c.roundTrips;
  report.durationMs = Date.now() - started;
  return report;
}

async function runOnce(c: CountingConnection, work: HostWork, opts: HostRunOptions, report: HostReport, given: HostFacts | undefined): Promise<void> {
  const emit = opts.onEvent ?? (() => {});
  const gate = opts.gate;
  let facts = given ?? opts.cachedFacts;
  const fresh = !given; // facts still to be read from the host
  const reads = new FactsReads();
  let ctx!: TaskContext;
  let built!: { tasks: Task[]; handlers: Record<string, Task> };
  let slots: Slot[] = [];
  const build = (f: HostFacts) => {
    facts = f;
    ({ ctx, built, slots } = buildSlots(work, reads.view(f), opts.tags));
  };
  if (facts) {
    try {
      build(facts);
    } catch (err) {
      // Tasks that cannot be built from the cached facts are built from the host's own, or fail there.
      if (given) throw err;
      facts = undefined;
      slots = [];
    }
  }
  // The costly facts are gathered unless neither the host's last run nor this build read one.
  const costlyRead = (keys: Iterable<FactKey>) => [...keys].some((k) => COSTLY_FACTS.has(k));
  const baseOnly = fresh && !!facts && !!opts.cachedReads && !costlyRead(opts.cachedReads) && !costlyRead(reads.read);

  try {
    // The first round trip: the gate, the facts, and (facts known) every task's probe.
    if (fresh || gate) {
      emit({ type: 'phase', host: work.host, phase: facts ? 'facts + probe' : 'facts' });
      const parts: ProbeItem[] = [];
      if (gate) parts.push(gate.probe);
      if (fresh) parts.push({ script: baseOnly ? BASE_FACTS_SCRIPT : FACTS_SCRIPT, inline: true }); // it never exits: no subshell
      const probeFrom = parts.length;
      if (facts) parts.push(...slots.map((s) => s.probe));
      const batch = batchProbes(parts);
      const r = await c.exec(batch.script, undefined, `${fresh ? 'facts, ' : ''}probe ${slots.length} task(s) in one batch`);
      const outs = batch.split(r.stdoutBytes);
      if (gate) gate.check(outs[0]!);
      if (fresh) {
        const f = outs[gate ? 1 : 0]!;
        if (f.code !== 0) throw new TaskError(work.host, 'gather facts', `facts script exited ${f.code}`);
        const got = parseFacts(f.stdout);
        if (facts && sameFacts(got, facts, !baseOnly)) {
          slots.forEach((s, k) => (s.state = outs[probeFrom + k]));
          if (baseOnly) reads.fromCache(COSTLY_FACTS);
        } else if (baseOnly) {
          // Facts that changed may lead the tasks to the costly ones: all of them, then the tasks built and probed.
          build(await gatherAll(c, work.host));
        } else build(got); // no facts yet, or they changed: tasks built from the host's own, probed next
      }
    }
    if (!facts) throw new TaskError(work.host, 'gather facts', 'no facts');
    // A plan read a costly fact this run took from the cache (a path the host's last run did not
    // take): the host's own value is read before anything planned from it is reported or sent. The
    // same value: the plans stand. Another: the host stops here, and its next run gathers every fact.
    const settle = async () => {
      if (!reads.unchecked.size) return;
      const keys = [...reads.unchecked].sort();
      const got = await gatherAll(c, work.host);
      reads.checked();
      if (sameFacts(got, facts!)) return;
      facts = got; // what the cache keeps
      throw new TaskError(
        work.host,
        'gather facts',
        `the host's facts differ from the ones its last run kept, and a task read ${keys.join(', ')}, which this run took from those: nothing planned from them was applied or reported; run again (it gathers every fact)`,
      );
    };
    await taskLoop({ ...hostTarget(c), settle }, { host: work.host, ctx, built, slots }, opts, report);
  } finally {
    if (fresh && facts) opts.onFacts?.(facts, reads.keys());
  }
}

/** Every fact, in a round trip of its own (counted). */
const gatherAll = async (c: CountingConnection, host: string) => factsOf(host, await c.exec(FACTS_SCRIPT, undefined, 'facts'));

/**
 * A probe output as it should read after changes with these effects: each effect's before-lines,
 * where they stand as whole lines, become its after-lines. Only a prediction: the guard compares it
 * with what the host prints, and a wrong one costs the round trip a stale plan always cost.
 */
export function predict(out: string, effects: readonly { before: string; after: string }[]): string {
  let s = out;
  for (const { before, after } of effects) {
    if (!before.endsWith('\n') || !after.endsWith('\n')) continue;
    let from = 0;
    for (;;) {
      const k = s.indexOf(before, from);
      if (k < 0) break;
      if (k === 0 || s[k - 1] === '\n') {
        s = s.slice(0, k) + after + s.slice(k + before.length);
        from = k + after.length;
      } else from = k + 1;
    }
  }
  return s;
}

/** A change rollback can settle even if its script died before it: it has no undo, or telling evidence. */
const provable = (ch: PlannedChange) => !ch.undo?.length || telling(ch.evidence);

/**
 * The task loop of one host, shared by runHost and the offline render: plan the tasks in order from
 * their probe outputs, send the changes that do not depend on each other in one batch, settle the
 * journal from the batch's markers, re-plan what a batch found changed, then the notified handlers.
 */
export async function taskLoop(
  target: LoopTarget,
  h: { host: string; ctx: TaskContext; built: { tasks: Task[]; handlers: Record<string, Task> }; slots: Slot[] },
  opts: HostRunOptions,
  report: HostReport,
): Promise<void> {
  const { ctx, built, slots } = h;
  const emit = opts.onEvent ?? (() => {});
  const apply = opts.mode === 'apply';
  const notified = new Set<string>();
  const checkNotified = () => {
    const unknown = [...notified].filter((n) => !built.handlers[n]);
    if (unknown.length) throw new TaskError(h.host, 'handlers', `notified handler(s) not defined: ${unknown.join(', ')}`);
  };
  // Handlers run in their declaration order, once each, after every task: only the notified ones.
  const dormant = (x: Slot) => x.handler !== undefined && !notified.has(x.handler);
  const taskCount = slots.filter((x) => x.handler === undefined).length;
  const changedSlots = new Set<number>();
  const finalize = (tr: TaskReport, slot: number) => {
    if (tr.status === 'changed') changedSlots.add(slot);
    report.tasks.push(tr);
    report.recap[tr.status]++;
    emit({ type: 'task-end', host: h.host, report: tr });
  };

  let i = 0;
  for (;;) {
    if (i >= slots.length) {
      checkNotified();
      return;
    }
    // Handlers not notified yet are probed too: a task of this batch may notify one, which then
    // goes in the same script (its probe is mostly its service's task's, asked once).
    const unknown = slots.map((s, k) => (k >= i && !s.state ? k : -1)).filter((k) => k >= 0);
    if (unknown.includes(i)) {
      emit({ type: 'phase', host: h.host, phase: `probe ${unknown.length} task(s)` });
      (await target.probe(unknown.map((k) => slots[k]!))).forEach((out, n) => (slots[unknown[n]!]!.state = out));
    }

    // Plan as far as the known states go; a state an earlier change of this batch may alter is guarded.
    interface Planned {
      slot: number;
      tr: TaskReport;
      t0: number;
      changes: { ch: PlannedChange; entry?: JournalChange; idx: number }[];
    }
    const planned: Planned[] = [];
    const items: BatchItem[] = [];
    /** What -v shows of the script: every step's own command, in order. */
    const shown: string[] = [];
    let size = 0;
    const writers: Footprint[] = [];
    /** What the changes of this script turn a state line into (their evidence, before -> after). */
    const effects: { before: string; after: string }[] = [];
    const changeList: { slot: number; ch: PlannedChange; entry: JournalChange }[] = [];
    let failedPlan = false;
    let j = i;
    while (j < slots.length) {
      if (j === taskCount) checkNotified();
      const s = slots[j]!;
      if (dormant(s)) {
        j++;
        continue;
      }
      if (!s.state) break;
      if (!readable(s.state)) {
        emit({ type: 'task-start', host: h.host, task: s.task.name, index: j, total: slots.length });
        planned.push({
          slot: j,
          tr: { task: s.task.name, module: s.task.module, status: 'skipped', changes: [], error: s.state.skip, durationMs: 0 },
          t0: Date.now(),
          changes: [],
        });
        j++;
        continue;
      }
      const stale = apply && writers.some((w) => meets(w, s.print));
      // A stale probe is planned on what it will most likely read once the earlier changes of this
      // script ran (their evidence lines substituted); the guard checks exactly that on the host.
      const st: ProbeOutput = stale ? { ...s.state, stdout: predict(s.state.stdout, effects) } : s.state;
      if (stale && st.stdout.length > GUARD_LIMIT) break;
      // The script travels as one argument of sh -c (128 KiB at most on Linux): a big batch is cut in two.
      if (j > i && size > SCRIPT_BUDGET) break;
      emit({ type: 'task-start', host: h.host, task: s.task.name, index: j, total: slots.length });
      const t0 = Date.now();
      const tr: TaskReport = { task: s.task.name, module: s.task.module, status: 'ok', changes: [], durationMs: 0 };
      let changes: PlannedChange[];
      try {
        const state = s.probe.parse(st);
        const notes = s.task.notes?.(state, ctx) ?? [];
        if (notes.length) tr.notes = notes;
        changes = await s.task.plan(state, ctx);
      } catch (err) {
        if (stale) break; // perhaps the stale state's fault: planned again from a fresh probe
        tr.status = 'failed';
        tr.error = err instanceof Error ? err.message : String(err);
        planned.push({ slot: j, tr, t0, changes: [] });
        failedPlan = true;
        j++;
        break;
      }
      // A change planned on a state an earlier change of this script may alter goes in the same
      // script behind a guard (its probe again; the script stops there when it reads otherwise)
      // only when rollback can tell it never ran: its pending journal record may outlive a script
      // that died before it, and its undo may need what the earlier change makes (a service's init
      // script). Without such evidence it waits for the next script.
      if (stale && !changes.every(provable)) break;
      if (stale) {
        const before = [...writers];
        const reprobe = slots
          .map((x, k) => (k >= j && (k === j || !x.state || (readable(x.state) && before.some((w) => meets(w, x.print)))) ? k : -1))
          .filter((k) => k >= 0);
        items.push({ kind: 'guard', task: j, expect: st, reprobe });
        shown.push(`# ${s.task.name}: probe again, stop here if it reads otherwise than planned`);
        size += 2 * st.stdout.length + s.probe.script.text.length;
      }
      tr.changes = changes.map(({ summary, reason, diff }) => ({ summary, reason, diff }));
      const p: Planned = { slot: j, tr, t0, changes: [] };
      if (changes.length > 0) {
        tr.status = 'changed';
        if (apply) {
          for (const ch of changes) {
            const idx = changeList.length;
            const entry = journalEntry(s.task, ch);
            changeList.push({ slot: j, ch, entry });
            p.changes.push({ ch, entry, idx });
            if (telling(ch.evidence)) effects.push(ch.evidence);
            for (const step of ch.apply) {
              items.push({ kind: 'step', change: idx, step });
              shown.push(step.kind === 'upload' ? `upload ${step.localPath} -> ${step.remotePath}` : step.script.display);
              size += step.kind === 'upload' ? step.remotePath.length + 200 : step.script.text.length + 200;
            }
          }
          writers.push(s.print);
        }
        for (const h of s.task.notify ?? []) notified.add(h);
      }
      planned.push(p);
      j++;
    }
    await target.settle?.();

    if (!apply || changeList.length === 0) {
      for (const p of planned) {
        p.tr.durationMs = Date.now() - p.t0;
        finalize(p.tr, p.slot);
      }
      if (failedPlan) return;
      i = j;
      continue;
    }

    // One script for the batch: guarded steps, the re-probes of later tasks, and (last) the finish.
    const tail = slots
      .map((x, k) => (k >= j && !dormant(x) && (!x.state || (readable(x.state) && writers.some((w) => meets(w, x.print)))) ? k : -1))
      .filter((k) => k >= 0);
    const last = j === slots.length && !failedPlan;
    for (const x of changeList) opts.onChange?.({ ...x.entry, pending: true });
    opts.onJournalSync?.(); // written ahead: every change of the script is on disk before it is sent
    const finish = last ? opts.finish?.build() : undefined;
    emit({ type: 'phase', host: h.host, phase: `apply ${changeList.length} change(s)` });
    let res: ApplyResult;
    try {
      res = await target.apply({
        probes: new Map(slots.map((x, k) => [k, x.probe] as const)),
        items,
        tail,
        ...(finish ? { epilogue: finish } : {}),
        changes: changeList.map((x) => ({ task: slots[x.slot]!.task, ch: x.ch })),
        display: [
          `apply ${changeList.length} change(s) in one script${tail.length ? `, re-probe ${tail.length} task(s)` : ''}:`,
          ...shown,
          ...(finish ? ['# mirror the journal on the host, release the run lock'] : []),
        ].join('\n'),
      });
    } catch (err) {
      // The connection broke: which steps ran is unknown, every change of the batch stays pending.
      const msg = err instanceof Error ? err.message : String(err);
      let blamed = false;
      for (const p of planned) {
        if (!blamed && p.changes.length) {
          p.tr.status = 'failed';
          p.tr.error = msg;
          blamed = true;
        } else if (blamed) {
          p.tr.status = 'skipped';
          p.tr.error = 'not applied: the connection broke before';
        }
        p.tr.durationMs = Date.now() - p.t0;
        finalize(p.tr, p.slot);
      }
      return;
    }
    // Settle each change from its steps' markers.
    const stepsOf = (idx: number) => items.filter((it) => it.kind === 'step' && it.change === idx).length;
    let failure: { idx: number; message: string } | undefined;
    const settled = new Set<number>();
    for (const x of changeList.map((_, idx) => idx)) {
      const done = res.steps.filter((st) => st.change === x);
      const bad = done.find((st) => st.code !== 0);
      if (bad) {
        const why = (bad.stderr.trim() || bad.stdout.trim() || '(no output)').split('\n').slice(-5).join('\n');
        failure = { idx: x, message: `command exited ${bad.code}: ${why}` };
        break;
      }
      if (done.length === stepsOf(x)) {
        settled.add(x);
        const output = done.map((st) => st.stdout).join('');
        opts.onApplied?.({ ...changeList[x]!.entry, ...(output ? { output } : {}) });
      } else break;
    }
    const stoppedBefore = (idx: number) => !settled.has(idx) && idx !== failure?.idx;
    const dead = !failure && res.staleAt === undefined && !res.complete; // the script died: unsettled stay pending
    if (!dead) for (const [idx, x] of changeList.entries()) if (stoppedBefore(idx)) opts.onDropped?.({ ...x.entry, pending: true });
    opts.onJournalSync?.();

    if (failure) {
      const failSlot = changeList[failure.idx]!.slot;
      for (const p of planned) {
        if (p.slot === failSlot) {
          p.tr.status = 'failed';
          p.tr.error = new TaskError(h.host, p.tr.task, failure.message).message;
        } else if (p.slot > failSlot) {
          p.tr.status = 'skipped';
          p.tr.error = `not applied: ${slots[failSlot]!.task.name} failed before it`;
        }
        p.tr.durationMs = Date.now() - p.t0;
        finalize(p.tr, p.slot);
      }
      return;
    }
    if (dead)
      throw new TaskError(
        h.host,
        'apply',
        'the script stopped before reporting every step (the host shell died?); unconfirmed changes stay pending in the journal',
      );
    if (res.staleAt !== undefined) {
      // Tasks before the guard are done; from the guard on, planned again from the fresh probes.
      for (const p of planned) {
        if (p.slot >= res.staleAt) continue;
        p.tr.durationMs = Date.now() - p.t0;
        finalize(p.tr, p.slot);
      }
      const guard = items.find((it) => it.kind === 'guard' && it.task === res.staleAt);
      for (const k of guard?.kind === 'guard' ? guard.reprobe : []) slots[k]!.state = res.probes.get(k);
      // Handlers notified by tasks that will be planned again are decided again.
      notified.clear();
      for (const k of changedSlots) if (k < res.staleAt) for (const n of slots[k]!.task.notify ?? []) notified.add(n);
      i = res.staleAt;
      continue;
    }
    for (const p of planned) {
      p.tr.durationMs = Date.now() - p.t0;
      finalize(p.tr, p.slot);
    }
    for (const k of tail) slots[k]!.state = res.probes.get(k);
    // A handler not notified yet was not probed again: what it read is stale once the batch may have altered it.
    for (const [k, x] of slots.entries()) if (k >= j && dormant(x) && readable(x.state) && writers.some((w) => meets(w, x.print))) x.state = undefined;
    if (finish && res.epilogue) opts.finish?.ran(res.epilogue.code);
    if (failedPlan) return; // the changes before a task that could not be planned are made; the host stops there
    i = j;
  }
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
