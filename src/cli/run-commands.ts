// `up` and `check`: their options and help. The work itself (SSH, engine, UI) is in run-actions.ts,
// imported only when the command runs, so `provision --help` and `--version` start fast.
import { type Command, Option } from 'commander';
import { EXIT } from '../core/provision-error.js';
import type { RunFlags } from './run-actions.js';
import { collectVar, intArg } from './common.js';

const runCommand = async (...a: Parameters<typeof import('./run-actions.js').runCommand>) => (await import('./run-actions.js')).runCommand(...a);

function addRunOptions(cmd: Command): Command {
  return cmd
    .option('-f, --forks <n>', 'hosts worked on in parallel', intArg(1, 1000), 10)
    .option('-l, --limit <hosts>', 'only these hosts/groups (comma-separated)')
    .option('-t, --tags <tags>', 'only tasks with one of these tags (comma-separated)')
    .option('-e, --extra-vars <key=value>', 'set a variable for every host (repeatable)', collectVar, {})
    .option('--json', 'print the run report as JSON')
    .addOption(new Option('--format <fmt>', 'report format').choices(['text', 'markdown', 'json']).default('text'))
    .option('-o, --out <file>', 'write the report to a file instead of stdout')
    .option('--diff', 'show diffs of changes (always on for check)')
    .option('-v, --verbose', 'show every remote command (secrets redacted), no live table')
    .option('--accept-new-host-keys', 'trust and record host keys not yet in known_hosts (changed keys are always refused)')
    .option('-k, --ask-pass', 'ask for the SSH password once (echo off) for hosts without ansible_password_env')
    .option('--state-dir <dir>', 'where run journals are kept', '.provision');
}

export function registerRunCommands(program: Command): void {
  addRunOptions(
    program
      .command('up')
      .description('converge every host of the inventory to the playbook (default: site)')
      .argument('<inventory>', 'inventory YAML file')
      .argument('[playbook]', 'playbook name in playbooks/ or a path'),
  ).action(async (inv: string, pb: string | undefined, f: RunFlags) => {
    process.exitCode = await runCommand('apply', inv, pb, f);
  });

  addRunOptions(
    program
      .command('check')
      .description(`dry run: show what would change as diffs; exit ${EXIT.drift} on drift, never changes a host`)
      .argument('<inventory>', 'inventory YAML file')
      .argument('[playbook]', 'playbook name in playbooks/ or a path'),
  ).action(async (inv: string, pb: string | undefined, f: RunFlags) => {
    process.exitCode = await runCommand('check', inv, pb, f);
  });
}
