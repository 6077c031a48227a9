// Offline planning: the plan a playbook makes for hosts described only by facts (a fixture),
// against a blank host (each probe's `blank` output). Nothing connects anywhere, so production
// inventories can be rendered, reviewed and tested on a laptop.
//
// It runs the engine's own task loop (engine.ts: taskLoop) against a virtual host: probes answer
// their blank output, a batch of changes "runs" by recording its commands and the files it writes.
// Files written by earlier tasks are remembered: a later probe of the same file sees them (its
// blank `type=absent` is replaced by what the real probe would print), so a file several tasks
// edit (one sysctl file, /etc/rc.modules) is planned as an edit and rendered with its final content.
// The round trips the loop takes are counted as a host would see them (the facts aside).
import type { HostFacts, HostReport, Playbook, Probe, ProbeOutput, RunReport } from './types.js';
import type { HostEntry, Inventory } from '../inventory/types.js';
import { hostWork } from './run.js';
import { newRunId } from './journal.js';
import { buildSlots, taskLoop, type ApplyBatch, type LoopTarget, type Unreadable } from './engine.js';
import type { ApplyResult } from './apply-script.js';

export interface RenderedFile {
  path: string;
  content: Buffer;
  mode?: string;
  task: string;
}

/** The paths read by file probes composed into `script` (fileProbeScript: `p='PATH'` then `echo PREFIXtype=symlink`). */
export function probedFiles(script: string): { path: string; prefix: string }[] {
  const out: { path: string; prefix: string }[] = [];
  const re = /^p=((?:'[^']*'|\\'|[A-Za-z0-9_/.,:=@%+-])+)\nif \[ -L "\$p" \]; then echo (\S*)type=symlink$/gm;
  for (const m of script.matchAll(re)) {
    const path = m[1]!.startsWith("'") ? m[1]!.replace(/'\\''/g, "'").replace(/^'|'$/g, '') : m[1]!;
    out.push({ path, prefix: m[2]! });
  }
  return out;
}

interface VirtualFile {
  content: Buffer;
  mode?: string;
}

/** The blank probe output with each file an earlier task wrote shown as present, as the file probe prints it. */
export function blankWithFiles(script: string, blank: string, fs: Map<string, VirtualFile>): string {
  let out = blank;
  for (const { path, prefix } of probedFiles(script)) {
    const f = fs.get(path);
    const absent = `${prefix}type=absent`;
    if (!f || !out.split('\n').includes(absent)) continue;
    const mode = (f.mode ?? '0644').replace(/^0(?=\d{3})/, '');
    const present = `${prefix}type=file\n${prefix}stat=${mode} 0 0 ${f.content.length} root root\n${prefix}b64=${f.content.toString('base64')}`;
    out = out
      .split('\n')
      .map((l) => (l === absent ? present : l))
      .join('\n');
  }
  return out;
}

export interface HostRender {
  report: HostReport;
  files: RenderedFile[];
  /** Commands in the order they would run (exec steps; uploads as "upload a -> b"). */
  commands: string[];
}

export async function renderOffline(o: {
  inventory: Inventory;
  playbook: Playbook;
  playbookName: string;
  hosts: HostEntry[];
  facts: Record<string, HostFacts>;
  projectDir: string;
}): Promise<{ report: RunReport; hosts: Record<string, HostRender> }> {
  const started = Date.now();
  const out: Record<string, HostRender> = {};
  for (const h of o.hosts) {
    const r: HostRender = {
      report: { host: h.name, tasks: [], recap: { ok: 0, changed: 0, failed: 0, skipped: 0 }, roundTrips: 0, durationMs: 0 },
      files: [],
      commands: [],
    };
    out[h.name] = r;
    const facts = o.facts[h.name];
    if (!facts) {
      r.report.error = `no facts for ${h.name} in the fixture`;
      continue;
    }
    let host: ReturnType<typeof buildSlots>;
    try {
      host = buildSlots(hostWork(o.inventory, o.playbook, h, o.projectDir), facts);
    } catch (e) {
      r.report.error = (e as Error).message;
      r.report.errorKind = 'failed';
      continue;
    }
    const target = virtualHost(r);
    try {
      await taskLoop(target, { host: h.name, ...host }, { mode: 'apply' }, r.report);
    } catch (e) {
      r.report.error = (e as Error).message;
    }
    r.report.roundTrips = target.roundTrips;
  }
  return {
    report: {
      id: newRunId(),
      mode: 'check',
      inventory: o.inventory.file,
      playbook: o.playbookName,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      hosts: Object.values(out).map((h) => h.report),
    },
    hosts: out,
  };
}

/** A blank host that takes every change: probes print their blank output with the files written so far. */
function virtualHost(r: HostRender): LoopTarget & { roundTrips: number } {
  const fs = new Map<string, VirtualFile>();
  const read = (p: Probe<unknown>): ProbeOutput | Unreadable =>
    p.blank === undefined
      ? { skip: 'cannot be planned offline (its probe has no blank state)' }
      : { stdout: blankWithFiles(p.script.text, p.blank, fs), code: 0 };
  const same = (a: ProbeOutput | Unreadable, b: ProbeOutput) => !('skip' in a) && a.stdout === b.stdout && a.code === b.code;
  const target = {
    roundTrips: 0,
    async probe(slots: readonly { probe: Probe<unknown> }[]) {
      target.roundTrips++;
      return slots.map((s) => read(s.probe));
    },
    async apply(b: ApplyBatch): Promise<ApplyResult> {
      target.roundTrips++;
      const res: ApplyResult = { steps: [], probes: new Map(), complete: false };
      const made = new Set<number>();
      const make = (idx: number) => {
        if (made.has(idx)) return;
        made.add(idx);
        const { task, ch } = b.changes[idx]!;
        if (!ch.writes) return;
        // A later write of the same file replaces the earlier one: the render shows final contents.
        const prev = fs.get(ch.writes.path);
        fs.set(ch.writes.path, { content: ch.writes.content, mode: ch.writes.mode ?? prev?.mode });
        r.files = r.files.filter((x) => x.path !== ch.writes!.path);
        r.files.push({ ...ch.writes, mode: ch.writes.mode ?? prev?.mode, task: task.name });
      };
      // A probe with no blank state is left unknown: the loop asks probe() for it (and skips its task).
      const reprobe = (k: number) => {
        const o = read(b.probes.get(k)!);
        if (!('skip' in o)) res.probes.set(k, o);
      };
      for (const [n, it] of b.items.entries()) {
        if (it.kind === 'guard') {
          if (same(read(b.probes.get(it.task)!), it.expect)) continue;
          res.staleAt = it.task;
          for (const k of it.reprobe) reprobe(k);
          return res;
        }
        make(it.change);
        const s = it.step;
        r.commands.push(s.kind === 'upload' ? `upload ${s.localPath} -> ${s.remotePath}` : s.script.display);
        res.steps.push({ change: it.change, item: n, code: 0, stdout: '', stderr: '' });
      }
      b.changes.forEach((_, idx) => make(idx)); // a change with no step still writes its file
      res.complete = true;
      for (const k of b.tail) reprobe(k);
      return res;
    },
  };
  return target;
}
