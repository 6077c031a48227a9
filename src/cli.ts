#!/usr/bin/env node
// The `provision` command line. Parses arguments, wires inventory + SSH + engine + UI; no logic of its own.
// Each command lives in src/cli/; this file only assembles them (in --help order) and maps errors to exit codes.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, exitCodeOf } from './core/errors.js';
import { packageDir } from './cli/paths.js';
import { err } from './cli/common.js';
import { registerRunCommands } from './cli/run-commands.js';
import { registerFactsCommand, registerRenderCommand, registerVerifyCommand } from './cli/inspect-commands.js';
import { registerRollbackCommand, registerRunsCommand } from './cli/rollback-commands.js';
import { registerLabCommands } from './cli/lab-commands.js';
import { registerInitCommand } from './cli/init-command.js';
import { registerStatusCommand } from './cli/status-commands.js';
import { registerDrainCommands } from './cli/drain-commands.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command('provision')
    .description('Agentless provisioner over SSH for Linux Virtual Server clusters')
    .version(PACKAGE_VERSION)
    .showHelpAfterError()
    .exitOverride();

  registerRunCommands(program);
  registerFactsCommand(program);
  registerRenderCommand(program);
  registerRollbackCommand(program);
  registerVerifyCommand(program);
  registerStatusCommand(program);
  registerDrainCommands(program);
  registerRunsCommand(program);
  registerLabCommands(program);
  registerInitCommand(program);

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    const ex = e as Error & { code?: string; exitCode?: number };
    if (ex.code?.startsWith('commander.')) {
      // help and version are not errors
      return ex.code === 'commander.helpDisplayed' || ex.code === 'commander.version' || ex.code === 'commander.help' ? EXIT.ok : EXIT.usage;
    }
    err(`provision: ${ex.message}`);
    return exitCodeOf(e);
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
