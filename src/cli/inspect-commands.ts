// `facts`, `render` and `verify`: look at hosts or a plan without changing anything.
// Registered one by one because `rollback` sits between render and verify in --help.
import { type Command, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadInventory } from '../inventory/load.js';
import { selectHosts } from '../inventory/select.js';
import { openConnection } from '../ssh/index.js';
import { gatherFacts } from '../core/engine.js';
import { EXIT } from '../core/errors.js';
import { renderOffline } from '../core/offline.js';
import { loadFactsFixture } from '../core/facts-fixture.js';
import { verifyCluster } from '../lvs/verify.js';
import { renderChanges, renderRecap } from '../ui/report.js';
import { renderMarkdown } from '../ui/markdown.js';
import { loadPlaybook } from './playbook-loader.js';
import { DEFAULT_PLAYBOOK, color, intArg } from './common.js';

export function registerFactsCommand(program: Command): void {
  program
    .command('facts')
    .description('gather and print the facts of each host (one round trip per host)')
    .argument('<inventory>', 'inventory YAML file')
    .option('-l, --limit <hosts>', 'only these hosts/groups')
    .option('--accept-new-host-keys', 'trust and record unknown host keys')
    .action(async (inv: string, f: { limit?: string; acceptNewHostKeys?: boolean }) => {
      const inventory = loadInventory(inv);
      const out: Record<string, unknown> = {};
      let failed = false;
      await Promise.all(
        selectHosts(inventory, 'all', f.limit).map(async (h) => {
          try {
            const conn = await openConnection(h.ssh, { acceptNewHostKeys: !!f.acceptNewHostKeys });
            try {
              out[h.name] = await gatherFacts(conn);
            } finally {
              await conn.close();
            }
          } catch (e) {
            failed = true;
            out[h.name] = { error: (e as Error).message };
          }
        }),
      );
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      process.exitCode = failed ? EXIT.failed : EXIT.ok;
    });
}

export function registerRenderCommand(program: Command): void {
  program
    .command('render')
    .description('plan offline from a facts fixture against blank hosts (connects nowhere): the runbook, and with --out every file it would write')
    .argument('<inventory>', 'inventory YAML file')
    .argument('[playbook]', 'playbook name in playbooks/ or a path')
    .requiredOption('--facts <file>', 'YAML fixture: host name -> facts (see test/fixtures/facts/)')
    .option('-l, --limit <hosts>', 'only these hosts/groups')
    .option('--out <dir>', "write each host's files under <dir>/<host>/ and its commands to <dir>/<host>.commands.sh")
    .addOption(new Option('--format <fmt>', 'report format').choices(['text', 'markdown', 'json']).default('markdown'))
    .action(async (inv: string, pb: string | undefined, f: { facts: string; limit?: string; out?: string; format: string }) => {
      const inventory = loadInventory(inv);
      const { name, playbook, projectDir } = await loadPlaybook(pb ?? DEFAULT_PLAYBOOK);
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
      const text =
        f.format === 'json'
          ? JSON.stringify(r.report, null, 2)
          : f.format === 'markdown'
            ? renderMarkdown(r.report)
            : [renderChanges(r.report, { diff: true, color: color() }), renderRecap(r.report, color())].join('\n\n');
      process.stdout.write(`${text}\n`);
      process.exitCode = r.report.hosts.some((h) => h.error || h.recap.failed > 0) ? EXIT.failed : EXIT.ok;
    });
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
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
        for (const c of r.checks)
          process.stdout.write(
            `${c.ok ? 'ok  ' : 'FAIL'} ${c.host} | ${c.check} | ${c.detail.split('\n').join(' / ')}${c.cause ? `\n     cause: ${c.cause}` : ''}\n`,
          );
        for (const [svc, t] of Object.entries(r.counts))
          process.stdout.write(
            `traffic ${svc}: ${Object.entries(t)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')}\n`,
          );
        process.stdout.write(r.ok ? 'verify: the cluster works\n' : `verify: FAILED (${r.checks.filter((c) => !c.ok).length} check(s))\n`);
      }
      process.exitCode = r.ok ? EXIT.ok : EXIT.failed;
    });
}
