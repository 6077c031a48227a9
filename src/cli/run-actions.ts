// `up` and `check` at work: one playbook run over the inventory, the report, and the exit code
// (drift for check). Loaded by run-commands.ts only when one of them runs (the CLI starts fast).
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadInventory } from '../inventory/load.js';
import { selectHosts } from '../inventory/select.js';
import { openConnection } from '../ssh/index.js';
import { runPlaybook } from '../core/run.js';
import { EXIT, UsageError } from '../core/errors.js';
import type { RunReport } from '../core/types.js';
import { createProgress } from '../ui/progress.js';
import { renderChanges, renderRecap } from '../ui/report.js';
import { renderMarkdown } from '../ui/markdown.js';
import { loadPlaybook, preflight } from './playbook-loader.js';
import { ASK_PASS_ENV, askPass } from './ask-pass.js';
import { DEFAULT_PLAYBOOK, color, err } from './common.js';
import { withRunLock } from './run-lock-cli.js';
import type { LockOwner } from '../core/run-lock.js';

export interface RunFlags {
  forks: number;
  limit?: string;
  tags?: string;
  extraVars: Record<string, string>;
  json?: boolean;
  verbose?: boolean;
  diff?: boolean;
  format: 'text' | 'markdown' | 'json';
  acceptNewHostKeys?: boolean;
  askPass?: boolean;
  stateDir: string;
  out?: string;
}

export async function runCommand(mode: 'apply' | 'check', inventoryFile: string, playbookArg: string | undefined, f: RunFlags): Promise<number> {
  const inventory = loadInventory(inventoryFile, { extraVars: f.extraVars });
  if (f.askPass) {
    await askPass();
    for (const h of inventory.hosts.values()) h.ssh.passwordEnv ??= ASK_PASS_ENV;
  }
  const { name, file: playbookFile, playbook, projectDir } = await loadPlaybook(playbookArg ?? DEFAULT_PLAYBOOK);
  preflight(playbook, name, inventory);
  const hosts = selectHosts(inventory, 'all', f.limit);
  if (hosts.length === 0) throw new UsageError('no hosts selected');
  const json = f.json || f.format === 'json';
  // up takes the run lock (state dir + each host) before anything starts; check changes nothing and takes none.
  const run = async (lock?: LockOwner) => {
    const progress = await createProgress(
      hosts.map((h) => h.name),
      {
        tty: process.stderr.isTTY === true && !json,
        verbose: !!f.verbose,
        write: err,
      },
    );
    const r = await runPlaybook({
      inventory,
      playbook,
      playbookName: name,
      playbookFile,
      hosts,
      mode,
      forks: f.forks,
      tags: f.tags
        ?.split(',')
        .map((t) => t.trim())
        .filter(Boolean),
      projectDir,
      stateDir: resolve(f.stateDir),
      connect: (target) => openConnection(target, { acceptNewHostKeys: !!f.acceptNewHostKeys }),
      onEvent: (e) => progress.onEvent(e),
      ...(lock ? { lock } : {}),
    });
    await progress.done();
    return r;
  };
  const { report, journalPath } = mode === 'apply' ? await withRunLock(resolve(f.stateDir), `up ${name}`, run) : await run();
  emitReport(report, mode, f);
  if (journalPath && !json) err(`journal: ${journalPath}`);
  const failed = report.hosts.some((h) => h.error || h.recap.failed > 0);
  if (failed) return EXIT.failed;
  if (mode === 'check' && report.hosts.some((h) => h.recap.changed > 0)) return EXIT.drift;
  return EXIT.ok;
}

function emitReport(report: RunReport, mode: 'apply' | 'check', f: RunFlags) {
  let text: string;
  if (f.json || f.format === 'json') text = JSON.stringify(report, null, 2);
  else if (f.format === 'markdown') text = renderMarkdown(report);
  else {
    const changes = renderChanges(report, { diff: mode === 'check' || !!f.diff, color: color() });
    text = [changes, renderRecap(report, color())].filter(Boolean).join('\n\n');
  }
  if (f.out) writeFileSync(f.out, `${text}\n`);
  else process.stdout.write(`${text}\n`);
}
