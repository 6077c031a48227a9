// `rollback` and `runs`: the recorded run journals, listed and undone. Their work is in
// rollback-actions.ts, imported only when one runs (the CLI starts fast).
import type { Command } from 'commander';
import { intArg } from './common.js';

export function registerRollbackCommand(program: Command): void {
  program
    .command('rollback')
    .description('undo a run (default: the last run of this inventory with changes), newest change first; shows the plan first')
    .argument('<inventory>', 'inventory YAML file')
    .argument('[run]', 'run id (see `provision runs`)')
    .option('--check', 'print the rollback plan only')
    .option('--force', 'roll back even where a host changed since the run (those changes are overwritten)')
    .option('-l, --limit <hosts>', 'only these hosts/groups')
    .option('-f, --forks <n>', 'hosts worked on in parallel', intArg(1, 1000), 10)
    .option('--accept-new-host-keys', 'trust and record unknown host keys')
    .option('--state-dir <dir>', 'where run journals are kept', '.provision')
    .action(
      async (
        inv: string,
        runId: string | undefined,
        f: { check?: boolean; force?: boolean; limit?: string; forks: number; acceptNewHostKeys?: boolean; stateDir: string },
      ) => (await import('./rollback-actions.js')).rollbackAction(inv, runId, f),
    );
}

export function registerRunsCommand(program: Command): void {
  program
    .command('runs')
    .description('list recorded runs (journals)')
    .option('--state-dir <dir>', 'where run journals are kept', '.provision')
    .action(async (f: { stateDir: string }) => (await import('./rollback-actions.js')).runsAction(f));
}
