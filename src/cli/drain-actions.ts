// The work of `drain` and `undrain` (loaded by drain-commands.ts only when one of them runs):
// `drain` and `undrain`: a real server's weight to 0 (or back) in the inventory file (edited in
// place, comments kept), then a journaled `up -t rules` of the directors: the live table, the boot
// rules and the monitor's config (so a monitor re-add keeps weight 0). `--wait` follows the real
// server's active connections down to 0. `rollback` undoes the run and puts the inventory back.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadInventory } from '../inventory/load.js';
import { selectHosts } from '../inventory/select.js';
import { openConnection } from '../ssh/index.js';
import { runPlaybook } from '../core/run.js';
import { writeFileAtomic } from '../core/atomic-file.js';
import { EXIT, UsageError } from '../core/errors.js';
import type { Connection } from '../core/types.js';
import type { HostEntry } from '../inventory/types.js';
import { createProgress } from '../ui/progress.js';
import { renderChanges, renderRecap } from '../ui/report.js';
import { drainTargets, drainText, undrainText, type DrainTarget } from '../lvs/drain.js';
import { parseIpvsList } from '../lvs/status.js';
import { desiredTable, serviceKey } from '../lvs/ipvs-table.js';
import { SBIN_PATH, sh } from '../core/shell.js';
import { loadPlaybook } from './playbook-loader.js';
import { DEFAULT_PLAYBOOK, color, err } from './common.js';
import { withRunLock } from './run-lock-cli.js';

export interface DrainFlags {
  service?: string;
  wait?: boolean;
  timeout: number;
  stateDir: string;
  acceptNewHostKeys?: boolean;
  json?: boolean;
}

/** Active connections of each target, summed over the directors (one `ipvsadm -Ln` each). */
async function activeConns(conns: Connection[], targets: DrainTarget[], keys: string[]): Promise<number[]> {
  const lists = await Promise.all(conns.map(async (c) => parseIpvsList((await c.exec(sh`${SBIN_PATH}\nipvsadm -Ln`, { become: true })).stdout)));
  return targets.map((t, i) => lists.reduce((n, l) => n + Number(l.get(keys[i]!)?.dests.get(`${t.address}:${t.port}`)?.[2] ?? 0), 0));
}

async function waitDrained(directors: HostEntry[], targets: DrainTarget[], keys: string[], f: DrainFlags): Promise<boolean> {
  const conns = await Promise.all(directors.map((h) => openConnection(h.ssh, { acceptNewHostKeys: !!f.acceptNewHostKeys })));
  const started = Date.now();
  try {
    for (;;) {
      const active = await activeConns(conns, targets, keys);
      const secs = Math.round((Date.now() - started) / 1000);
      err(`waiting: ${targets.map((t, i) => `${t.address}:${t.port} in ${keys[i]}: ${active[i]} active`).join(', ')} (${secs}s of ${f.timeout}s)`);
      if (active.every((n) => n === 0)) return true;
      if (Date.now() - started >= f.timeout * 1000) return false;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
  }
}

export async function drainCommand(op: 'drain' | 'undrain', inventoryFile: string, host: string, f: DrainFlags): Promise<number> {
  const file = resolve(inventoryFile);
  const before = readFileSync(file, 'utf8');
  const inventory0 = loadInventory(file);
  const lvs0 = inventory0.lvs;
  if (!lvs0) throw new UsageError('the inventory has no lvs.services');
  const targets = drainTargets(lvs0.services, host, f.service);
  const directors = selectHosts(inventory0, 'all', 'directors');
  if (directors.length === 0) throw new UsageError('the inventory has no group directors');
  const keys = targets.map((t) => serviceKey(desiredTable({ services: [lvs0.services[t.svc]!] })[0]!));
  const stateDir = resolve(f.stateDir);

  return withRunLock(stateDir, `${op} ${host}`, async (owner) => {
    let after = before;
    if (op === 'drain') {
      const d = drainText(before, targets);
      after = d.text;
      targets.forEach((t, i) =>
        err(`${op}: ${t.address}:${t.port} in ${t.service}: ${d.was[i] === 'already' ? 'already drained (weight 0)' : `weight ${d.was[i]} -> 0`}`),
      );
    } else {
      const u = undrainText(before, targets);
      after = u.text;
      targets.forEach((t, i) =>
        err(
          `${op}: ${t.address}:${t.port} in ${t.service}: ${u.restored[i] === 'not drained' ? 'not drained by provision (no drain mark): weight left as is' : `weight 0 -> ${u.restored[i]}`}`,
        ),
      );
    }
    if (after !== before) {
      writeFileAtomic(file, after);
      err(`inventory: ${file} edited (weight line${targets.length > 1 ? 's' : ''} only)`);
    }
    // Validated again from the file as written: a bad edit stops here, before any host changes.
    const inventory = loadInventory(file);
    const { name, file: playbookFile, playbook, projectDir } = await loadPlaybook(DEFAULT_PLAYBOOK);
    const progress = await createProgress(
      directors.map((h) => h.name),
      { tty: process.stderr.isTTY === true && !f.json, verbose: false, write: err },
    );
    const { report, journalPath } = await runPlaybook({
      inventory,
      playbook,
      playbookName: name,
      playbookFile,
      hosts: directors,
      mode: 'apply',
      forks: 10,
      tags: ['rules'],
      projectDir,
      stateDir,
      connect: (target) => openConnection(target, { acceptNewHostKeys: !!f.acceptNewHostKeys }),
      lock: owner,
      onEvent: (e) => progress.onEvent(e),
      journalExtra: {
        operation: `${op} ${host}${f.service ? ` --service ${f.service}` : ''}`,
        ...(after !== before ? { inventoryEdit: { file, before, after } } : {}),
      },
    });
    await progress.done();
    process.stdout.write(
      `${f.json ? JSON.stringify(report, null, 2) : [renderChanges(report, { diff: true, color: color() }), renderRecap(report, color())].filter(Boolean).join('\n\n')}\n`,
    );
    if (journalPath) err(`journal: ${journalPath} (rollback undoes the table, the monitor's config and the inventory edit)`);
    if (report.hosts.some((h) => h.error || h.recap.failed > 0)) {
      err(
        `${op}: the directors did not all take it; the inventory already says so: fix the cause and run \`provision up ${inventoryFile} -t rules\`, or \`provision rollback\``,
      );
      return EXIT.failed;
    }
    if (op === 'drain' && f.wait) {
      const ok = await waitDrained(directors, targets, keys, f);
      if (!ok) {
        err(`drain: ${host} still has active connections after ${f.timeout}s`);
        return EXIT.failed;
      }
      err(`drain: ${host} has no active connections`);
    }
    return EXIT.ok;
  });
}
