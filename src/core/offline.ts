// Offline planning: the plan a playbook makes for hosts described only by facts (a fixture),
// against a blank host (each probe's `blank` output). Nothing connects anywhere, so production
// inventories can be rendered, reviewed and tested on a laptop.
//
// Files written by earlier tasks are remembered: a later probe of the same file sees them (its
// blank `type=absent` is replaced by what the real probe would print), so a file several tasks
// edit (one sysctl file, /etc/rc.modules) is planned as an edit and rendered with its final content.
import type { HostFacts, HostReport, Playbook, RunReport, TaskReport } from './types.js';
import type { HostEntry, Inventory } from '../inventory/types.js';
import { hostWork } from './run.js';
import { newRunId } from './journal.js';

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
    const work = hostWork(o.inventory, o.playbook, h, o.projectDir);
    const ctx = { host: h.name, facts, vars: h.vars, projectDir: o.projectDir, inventory: o.inventory };
    let built: ReturnType<typeof work.build>;
    try {
      built = work.build(ctx);
    } catch (e) {
      r.report.error = (e as Error).message;
      r.report.errorKind = 'failed';
      continue;
    }
    const notified = new Set<string>();
    const fs = new Map<string, VirtualFile>();
    const planList = async (tasks: typeof built.tasks) => {
      for (const task of tasks) {
        const tr: TaskReport = { task: task.name, module: task.module, status: 'ok', changes: [], durationMs: 0 };
        try {
          const probe = task.probe(ctx);
          if (probe.blank === undefined) {
            tr.status = 'skipped';
            tr.error = 'cannot be planned offline (its probe has no blank state)';
          } else {
            const changes = await task.plan(probe.parse({ stdout: blankWithFiles(probe.script.text, probe.blank, fs), code: 0 }), ctx);
            tr.changes = changes.map(({ summary, reason, diff }) => ({ summary, reason, diff }));
            if (changes.length) {
              tr.status = 'changed';
              for (const n of task.notify ?? []) notified.add(n);
            }
            for (const c of changes) {
              if (c.writes) {
                // A later write of the same file replaces the earlier one: the render shows final contents.
                const prev = fs.get(c.writes.path);
                fs.set(c.writes.path, { content: c.writes.content, mode: c.writes.mode ?? prev?.mode });
                r.files = r.files.filter((x) => x.path !== c.writes!.path);
                r.files.push({ ...c.writes, mode: c.writes.mode ?? prev?.mode, task: task.name });
              }
              for (const s of c.apply) r.commands.push(s.kind === 'upload' ? `upload ${s.localPath} -> ${s.remotePath}` : s.script.display);
            }
          }
        } catch (e) {
          tr.status = 'failed';
          tr.error = (e as Error).message;
        }
        r.report.tasks.push(tr);
        r.report.recap[tr.status]++;
      }
    };
    await planList(built.tasks);
    await planList(
      Object.keys(built.handlers)
        .filter((n) => notified.has(n))
        .map((n) => built.handlers[n]!),
    );
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
