// `drain` and `undrain`: a real server's weight to 0 (or back) in the inventory file (edited in
// place, comments kept), then a journaled `up -t rules` of the directors: the live table, the boot
// rules and the monitor's config (so a monitor re-add keeps weight 0). `--wait` follows the real
// server's active connections down to 0. `rollback` undoes the run and puts the inventory back.
// Their work is in drain-actions.ts, imported only when one runs (the CLI starts fast).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../core/atomic-file.js';
import type { DrainFlags } from './drain-actions.js';
import { intArg } from './common.js';

/** Rollback of a drain/undrain run: the inventory back to before, unless it changed since the run. */
export function restoreInventoryEdit(e: { file: string; before: string; after: string }): string {
  let now: string;
  try {
    now = readFileSync(e.file, 'utf8');
  } catch (x) {
    return `inventory: ${e.file} not restored: ${(x as Error).message}`;
  }
  if (now === e.before) return `inventory: ${e.file} already as before the run`;
  if (now !== e.after) return `inventory: ${e.file} NOT restored: it was edited after the run (restore its weight by hand, or undrain)`;
  writeFileAtomic(e.file, e.before);
  return `inventory: ${e.file} restored to before the run`;
}

export function registerDrainCommands(program: Command): void {
  for (const op of ['drain', 'undrain'] as const) {
    const cmd = program
      .command(op)
      .description(
        op === 'drain'
          ? "take a real server out of service gracefully: weight 0 in the live table, the monitor's config and the inventory file (comments kept); journaled"
          : "give a drained real server back the weight it had before `drain` (from the inventory's drain mark); journaled",
      )
      .argument('<inventory>', 'inventory YAML file')
      .argument('<host>', 'the real server (inventory name or address)')
      .option('--service <name>', 'only this service (default: every service it serves)')
      .option('--state-dir <dir>', 'where run journals are kept', '.provision')
      .option('--json', 'print the run report as JSON')
      .option('--accept-new-host-keys', 'trust and record unknown host keys');
    if (op === 'drain') {
      cmd
        .option('--wait', 'then wait until its active connections reach 0 (progress on stderr)')
        .option('--timeout <s>', 'how long --wait waits (seconds)', intArg(1, 86400), 300);
    }
    cmd.action(async (inv: string, host: string, f: DrainFlags) => {
      process.exitCode = await (await import('./drain-actions.js')).drainCommand(op, inv, host, { ...f, timeout: f.timeout ?? 300 });
    });
  }
}
