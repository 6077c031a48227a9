// command: runs a playbook author's sh script unless a guard says it already did its job.
// `cmd`, `unless`, `onlyIf` and `undo` are Scripts (built with sh``, which quotes every value) run
// as root. Guards run during the probe (also in check mode), so they must only read. Without any
// guard the command runs on every run (never "ok").
import type { PlannedChange, Probe, Task } from '../core/types.js';
import { Script, sh } from '../core/shell.js';
import { ModuleError } from './errors.js';
import { KeyValues, checkPath, meta, type TaskMeta } from './util.js';

export interface CommandOptions extends TaskMeta {
  name: string;
  /** The full sh script. */
  cmd: Script;
  /** What puts back the state `cmd` changed, when there is such a thing (journaled for rollback). */
  undo?: Script;
  /** Skip when this path exists. */
  creates?: string;
  /** Skip when this path does not exist. */
  removes?: string;
  /** Skip when this sh test exits 0. */
  unless?: Script;
  /** Run only when this sh test exits 0. */
  onlyIf?: Script;
}

export interface CommandState {
  createsExists?: boolean;
  removesExists?: boolean;
  unlessCode?: number;
  onlyIfCode?: number;
}

export function commandProbe(o: Pick<CommandOptions, 'creates' | 'removes' | 'unless' | 'onlyIf'>): Probe<CommandState> {
  const lines: Script[] = [];
  if (o.creates) lines.push(sh`if [ -e ${o.creates} ] || [ -L ${o.creates} ]; then echo creates=1; else echo creates=0; fi`);
  if (o.removes) lines.push(sh`if [ -e ${o.removes} ] || [ -L ${o.removes} ]; then echo removes=1; else echo removes=0; fi`);
  // Each guard in its own subshell, fed no stdin, output discarded: only the exit code matters.
  if (o.unless) lines.push(sh`( ${o.unless}\n) >/dev/null 2>&1 </dev/null; echo "unless=$?"`);
  if (o.onlyIf) lines.push(sh`( ${o.onlyIf}\n) >/dev/null 2>&1 </dev/null; echo "onlyif=$?"`);
  lines.push(sh`echo done=1`);
  return {
    script: Script.join(lines, '\n'),
    // The guards run in subshells of their own: an `exit` in one ends only that guard.
    inline: true,
    // Offline, assume the command has to run.
    blank: [o.creates ? 'creates=0' : '', o.removes ? 'removes=1' : '', o.unless ? 'unless=1' : '', o.onlyIf ? 'onlyif=0' : '', 'done=1']
      .filter(Boolean)
      .join('\n'),
    parse(out) {
      const kv = new KeyValues(out.stdout);
      if (!kv.has('done')) throw new ModuleError('command', 'guard probe did not complete');
      const num = (k: string): number | undefined => (kv.has(k) ? Number(kv.get(k)) : undefined);
      const s: CommandState = {};
      if (kv.has('creates')) s.createsExists = kv.get('creates') === '1';
      if (kv.has('removes')) s.removesExists = kv.get('removes') === '1';
      const u = num('unless');
      if (u !== undefined) s.unlessCode = u;
      const oi = num('onlyif');
      if (oi !== undefined) s.onlyIfCode = oi;
      return s;
    },
  };
}

/** The guard that says "nothing to do", or null when the command must run. */
export function skipReason(o: Pick<CommandOptions, 'creates' | 'removes' | 'unless' | 'onlyIf'>, s: CommandState): string | null {
  if (o.creates && s.createsExists) return `${o.creates} exists`;
  if (o.removes && s.removesExists === false) return `${o.removes} does not exist`;
  if (o.unless && s.unlessCode === 0) return 'unless guard passed';
  if (o.onlyIf && s.onlyIfCode !== undefined && s.onlyIfCode !== 0) return `onlyIf guard failed (exit ${s.onlyIfCode})`;
  return null;
}

export function planCommand(o: CommandOptions, s: CommandState): PlannedChange[] {
  if (skipReason(o, s) !== null) return [];
  const why = [
    o.creates ? `${o.creates} is absent` : '',
    o.removes ? `${o.removes} exists` : '',
    o.unless ? `unless guard exited ${s.unlessCode}` : '',
    o.onlyIf ? 'onlyIf guard passed' : '',
  ].filter(Boolean);
  return [
    {
      summary: o.undo ? `run ${o.name}` : `run ${o.name} (no undo: a command's effects are not tracked)`,
      reason: why.length ? why.join('; ') : 'no guard: runs every time',
      apply: [{ kind: 'exec', script: o.cmd }],
      ...(o.undo ? { undo: [{ kind: 'exec' as const, script: o.undo }] } : {}),
      before: { command: o.name, guards: s },
    },
  ];
}

export function command(opts: CommandOptions): Task<CommandState> {
  if (!opts.cmd || opts.cmd.isEmpty) throw new ModuleError('command', `${opts.name}: empty cmd`);
  const o: CommandOptions = {
    ...opts,
    ...(opts.creates ? { creates: checkPath('command', opts.creates) } : {}),
    ...(opts.removes ? { removes: checkPath('command', opts.removes) } : {}),
  };
  return {
    ...meta(opts.name, opts),
    module: 'command',
    probe: () => commandProbe(o),
    plan: (s) => planCommand(o, s),
  };
}
