#!/usr/bin/env node
// The `provision` command line. Parses arguments, wires inventory + SSH + engine + UI; no logic of its own.
import { Command, Option, InvalidArgumentError } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadInventory } from './inventory/load.js';
import { selectHosts } from './inventory/select.js';
import { openConnection } from './ssh/index.js';
import { hostWork, runPlaybook } from './core/run.js';
import { gatherFacts } from './core/engine.js';
import { EXIT, UsageError } from './core/errors.js';
import { listJournals } from './core/journal.js';
import type { RunReport } from './core/types.js';
import { createProgress } from './ui/progress.js';
import { renderChanges, renderRecap } from './ui/report.js';
import { renderMarkdown } from './ui/markdown.js';
import { loadPlaybook } from './cli/playbook-loader.js';
import { ASK_PASS_ENV, askPass } from './cli/ask-pass.js';
import { projectDir } from './cli/paths.js';
import { labDir, labDown, labStatus, labUp } from './lab/index.js';
import { vmLabUp } from './lab/vm/lab.js';
import { renderOffline } from './core/offline.js';
import { executeRollback, findRun, handlersToRun, planRollback } from './core/rollback.js';
import { verifyCluster } from './lvs/verify.js';
import { loadFactsFixture } from './core/facts-fixture.js';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

const DEFAULT_PLAYBOOK = 'site';
const PACKAGE_VERSION = (JSON.parse(readFileSync(join(projectDir, 'package.json'), 'utf8')) as { version: string }).version;

interface RunFlags {
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

function intArg(min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer ${min}..${max}`);
    return n;
  };
}

function collectVar(v: string, acc: Record<string, string>) {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${v}"`);
  return { ...acc, [v.slice(0, eq)]: v.slice(eq + 1) };
}

const color = () => !process.env.NO_COLOR && process.stdout.isTTY === true;
const err = (s: string) => process.stderr.write(`${s}\n`);

async function runCommand(mode: 'apply' | 'check', inventoryFile: string, playbookArg: string | undefined, f: RunFlags): Promise<number> {
  const inventory = loadInventory(inventoryFile, { extraVars: f.extraVars });
  if (f.askPass) {
    await askPass();
    for (const h of inventory.hosts.values()) h.ssh.passwordEnv ??= ASK_PASS_ENV;
  }
  const { name, file: playbookFile, playbook } = await loadPlaybook(playbookArg ?? DEFAULT_PLAYBOOK);
  const hosts = selectHosts(inventory, 'all', f.limit);
  if (hosts.length === 0) throw new UsageError('no hosts selected');
  const json = f.json || f.format === 'json';
  const progress = createProgress(hosts.map((h) => h.name), {
    tty: process.stderr.isTTY === true && !json, verbose: !!f.verbose, write: err,
  });
  const { report, journalPath } = await runPlaybook({
    inventory, playbook, playbookName: name, playbookFile, hosts, mode,
    forks: f.forks,
    tags: f.tags?.split(',').map((t) => t.trim()).filter(Boolean),
    projectDir,
    stateDir: resolve(f.stateDir),
    connect: (target) => openConnection(target, { acceptNewHostKeys: !!f.acceptNewHostKeys }),
    onEvent: (e) => progress.onEvent(e),
  });
  await progress.done();
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

export function buildProgram(): Command {
  const program = new Command('provision')
    .description('Agentless provisioner over SSH for Linux Virtual Server clusters')
    .version(PACKAGE_VERSION)
    .showHelpAfterError()
    .exitOverride();

  addRunOptions(program.command('up')
    .description('converge every host of the inventory to the playbook (default: site)')
    .argument('<inventory>', 'inventory YAML file')
    .argument('[playbook]', 'playbook name in playbooks/ or a path'))
    .action(async (inv: string, pb: string | undefined, f: RunFlags) => { process.exitCode = await runCommand('apply', inv, pb, f); });

  addRunOptions(program.command('check')
    .description(`dry run: show what would change as diffs; exit ${EXIT.drift} on drift, never changes a host`)
    .argument('<inventory>', 'inventory YAML file')
    .argument('[playbook]', 'playbook name in playbooks/ or a path'))
    .action(async (inv: string, pb: string | undefined, f: RunFlags) => { process.exitCode = await runCommand('check', inv, pb, f); });

  program.command('facts')
    .description('gather and print the facts of each host (one round trip per host)')
    .argument('<inventory>', 'inventory YAML file')
    .option('-l, --limit <hosts>', 'only these hosts/groups')
    .option('--accept-new-host-keys', 'trust and record unknown host keys')
    .action(async (inv: string, f: { limit?: string; acceptNewHostKeys?: boolean }) => {
      const inventory = loadInventory(inv);
      const out: Record<string, unknown> = {};
      let failed = false;
      await Promise.all(selectHosts(inventory, 'all', f.limit).map(async (h) => {
        try {
          const conn = await openConnection(h.ssh, { acceptNewHostKeys: !!f.acceptNewHostKeys });
          try { out[h.name] = await gatherFacts(conn); } finally { await conn.close(); }
        } catch (e) { failed = true; out[h.name] = { error: (e as Error).message }; }
      }));
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      process.exitCode = failed ? EXIT.failed : EXIT.ok;
    });

  program.command('render')
    .description('plan offline from a facts fixture against blank hosts (connects nowhere): the runbook, and with --out every file it would write')
    .argument('<inventory>', 'inventory YAML file')
    .argument('[playbook]', 'playbook name in playbooks/ or a path')
    .requiredOption('--facts <file>', 'YAML fixture: host name -> facts (see test/fixtures/facts/)')
    .option('-l, --limit <hosts>', 'only these hosts/groups')
    .option('--out <dir>', 'write each host\'s files under <dir>/<host>/ and its commands to <dir>/<host>.commands.sh')
    .addOption(new Option('--format <fmt>', 'report format').choices(['text', 'markdown', 'json']).default('markdown'))
    .action(async (inv: string, pb: string | undefined, f: { facts: string; limit?: string; out?: string; format: string }) => {
      const inventory = loadInventory(inv);
      const { name, playbook } = await loadPlaybook(pb ?? DEFAULT_PLAYBOOK);
      const hosts = selectHosts(inventory, 'all', f.limit);
      const r = await renderOffline({ inventory, playbook, playbookName: name, hosts, facts: loadFactsFixture(f.facts), projectDir });
      if (f.out) {
        for (const [host, h] of Object.entries(r.hosts)) {
          for (const file of h.files) {
            const dest = join(f.out, host, file.path);
            mkdirSync(dirname(dest), { recursive: true });
            writeFileSync(dest, file.content);
          }
          mkdirSync(f.out, { recursive: true });
          writeFileSync(join(f.out, `${host}.commands.sh`), `${h.commands.map((c) => `${c}\n`).join('# ---\n')}`);
        }
      }
      const text = f.format === 'json' ? JSON.stringify(r.report, null, 2) : f.format === 'markdown' ? renderMarkdown(r.report)
        : [renderChanges(r.report, { diff: true, color: color() }), renderRecap(r.report, color())].join('\n\n');
      process.stdout.write(`${text}\n`);
      process.exitCode = r.report.hosts.some((h) => h.error || h.recap.failed > 0) ? EXIT.failed : EXIT.ok;
    });

  program.command('rollback')
    .description('undo a run (default: the last run of this inventory with changes), newest change first; shows the plan first')
    .argument('<inventory>', 'inventory YAML file')
    .argument('[run]', 'run id (see `provision runs`)')
    .option('--check', 'print the rollback plan only')
    .option('--force', 'roll back even where a host changed since the run (those changes are overwritten)')
    .option('-l, --limit <hosts>', 'only these hosts/groups')
    .option('-f, --forks <n>', 'hosts worked on in parallel', intArg(1, 1000), 10)
    .option('--accept-new-host-keys', 'trust and record unknown host keys')
    .option('--state-dir <dir>', 'where run journals are kept', '.provision')
    .action(async (inv: string, runId: string | undefined, f: { check?: boolean; force?: boolean; limit?: string; forks: number; acceptNewHostKeys?: boolean; stateDir: string }) => {
      const inventory = loadInventory(inv);
      const stateDir = resolve(f.stateDir);
      const hosts = selectHosts(inventory, 'all', f.limit);
      const plan = planRollback(findRun(stateDir, inventory.file, runId), hosts.map((h) => h.name));
      if (plan.alreadyRolledBackBy) {
        process.stdout.write(`run ${plan.run.id} was already rolled back by ${plan.alreadyRolledBackBy}: nothing to do\n`);
        return;
      }
      process.stdout.write(`rollback of run ${plan.run.id} (${plan.run.startedAt}, ${plan.run.status}), newest change first:\n`);
      for (const it of plan.items) process.stdout.write(`  ${it.host} | ${it.undoable ? 'undo' : 'CANNOT UNDO'} | ${it.change.summary}\n`);
      for (const h of hosts) {
        const names = handlersToRun(plan.items.filter((it) => it.host === h.name));
        if (names.length) process.stdout.write(`  ${h.name} | then handlers, where needed | ${names.join(', ')}\n`);
      }
      if (f.check) return;
      // The run's playbook supplies the handlers (mon restarted after its config is restored).
      const pb = await loadPlaybook(plan.run.playbookFile ?? plan.run.playbook).catch((e: Error) => {
        err(`warning: handlers will not run: ${e.message}`);
        return undefined;
      });
      const r = await executeRollback({
        plan, stateDir, hosts, force: !!f.force, forks: f.forks, log: err,
        handlerWork: pb ? (h) => hostWork(inventory, pb.playbook, h, projectDir) : undefined,
        connect: (h) => openConnection(h.ssh, { acceptNewHostKeys: !!f.acceptNewHostKeys }),
      });
      for (const [host, h] of Object.entries(r.hosts)) {
        process.stdout.write(`${host} : undone=${h.undone} skipped=${h.skipped} handlers=${h.handlers.length}${h.error ? ` ERROR: ${h.error}` : ''}\n`);
      }
      err(`journal: ${r.journalPath}`);
      process.exitCode = Object.values(r.hosts).some((h) => h.error) ? EXIT.failed : EXIT.ok;
    });

  program.command('verify')
    .description('prove the LVS cluster works: rules, VIPs, ARP, sysctls, and real traffic from a client (group clients)')
    .argument('<inventory>', 'inventory YAML file')
    .option('-n, --requests <n>', 'requests sent to each VIP:port from the client', intArg(1, 10000), 20)
    .option('--json', 'print the checks as JSON')
    .option('--accept-new-host-keys', 'trust and record unknown host keys')
    .action(async (inv: string, f: { requests: number; json?: boolean; acceptNewHostKeys?: boolean }) => {
      const inventory = loadInventory(inv);
      const r = await verifyCluster({ inventory, requests: f.requests, connect: (h) => openConnection(h.ssh, { acceptNewHostKeys: !!f.acceptNewHostKeys }) });
      if (f.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else {
        for (const c of r.checks) process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.host} | ${c.check} | ${c.detail.split('\n').join(' / ')}${c.cause ? `\n     cause: ${c.cause}` : ''}\n`);
        for (const [svc, t] of Object.entries(r.counts)) process.stdout.write(`traffic ${svc}: ${Object.entries(t).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
        process.stdout.write(r.ok ? 'verify: the cluster works\n' : `verify: FAILED (${r.checks.filter((c) => !c.ok).length} check(s))\n`);
      }
      process.exitCode = r.ok ? EXIT.ok : EXIT.failed;
    });

  program.command('runs')
    .description('list recorded runs (journals)')
    .option('--state-dir <dir>', 'where run journals are kept', '.provision')
    .action((f: { stateDir: string }) => {
      for (const j of listJournals(resolve(f.stateDir))) {
        const changes = Object.values(j.hosts).reduce((n, h) => n + h.changes.length, 0);
        process.stdout.write(`${j.id}  ${j.startedAt}  ${j.user}  ${j.kind}  ${j.inventory}  hosts=${Object.keys(j.hosts).length}  changes=${changes}  ${j.status}\n`);
      }
    });

  const lab = program.command('lab').description('the built-in lab of real SSH hosts (used by the tests and the demo)');
  lab.command('up')
    .description('start lab hosts and write <dir>/inventory.yaml (container: sshd in namespaces; vm: qemu VMs with an IPVS kernel, LVS layout)')
    .option('--name <name>', 'lab name', 'default')
    .addOption(new Option('--driver <driver>', 'container hosts or VMs').choices(['container', 'vm']).default('container'))
    .option('--hosts <n>', 'container: number of hosts', intArg(1, 250), 3)
    .addOption(new Option('--forwarding <method>', 'vm: LVS forwarding written to the lab inventory').choices(['tun', 'dr', 'nat']).default('tun'))
    .option('--real-servers <n>', 'vm: number of real servers', intArg(1, 200), 2)
    .action(async (f: { name: string; hosts: number; driver: 'container' | 'vm'; forwarding: 'tun' | 'dr' | 'nat'; realServers: number }) => {
      if (f.driver === 'vm') {
        const r = await vmLabUp({ name: f.name, dir: labDir(f.name), forwarding: f.forwarding, realServers: f.realServers, log: err });
        process.stdout.write(`lab ${f.name}: ${r.hosts.length} VMs up; inventory: ${r.inventory}\n`);
        for (const h of r.hosts) process.stdout.write(`  ${h.name}  ssh 127.0.0.1:${h.sshPort}  lan ${h.lanAddress}\n`);
        process.stdout.write(`timings (ms): ${JSON.stringify(r.timings)}\n`);
        return;
      }
      const r = await labUp({ name: f.name, hosts: f.hosts });
      process.stdout.write(`lab ${f.name}: ${r.hosts.length} hosts up; inventory: ${r.inventory}\n`);
      for (const h of r.hosts) process.stdout.write(`  ${h.name}  ${h.address}\n`);
      process.stdout.write(`timings (ms): ${JSON.stringify(r.timings)}\n`);
    });
  lab.command('down').description('stop the lab and remove everything it created')
    .option('--name <name>', 'lab name', 'default')
    .action(async (f: { name: string }) => { await labDown(f.name); process.stdout.write(`lab ${f.name}: down\n`); });
  lab.command('status').description('show lab hosts and whether they answer')
    .option('--name <name>', 'lab name', 'default')
    .action(async (f: { name: string }) => { process.stdout.write(`${JSON.stringify(await labStatus(f.name), null, 2)}\n`); });

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
    if (ex.name === 'InventoryError' || ex instanceof UsageError) return EXIT.usage;
    return EXIT.failed;
  }
}

main(process.argv).then((code) => { process.exitCode = code; });
