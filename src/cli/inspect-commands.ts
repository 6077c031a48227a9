// `facts`, `render` and `verify`: look at hosts or a plan without changing anything.
// Registered one by one because `rollback` sits between render and verify in --help.
// Their work is in inspect-actions.ts, imported only when one runs (the CLI starts fast).
import { type Command, Option } from 'commander';
import { intArg } from './common.js';

export function registerFactsCommand(program: Command): void {
  program
    .command('facts')
    .description('gather and print the facts of each host (one round trip per host)')
    .argument('<inventory>', 'inventory YAML file')
    .option('-l, --limit <hosts>', 'only these hosts/groups')
    .option('--accept-new-host-keys', 'trust and record unknown host keys')
    .action(async (inv: string, f: { limit?: string; acceptNewHostKeys?: boolean }) => (await import('./inspect-actions.js')).factsAction(inv, f));
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
    .action(async (inv: string, pb: string | undefined, f: { facts: string; limit?: string; out?: string; format: string }) =>
      (await import('./inspect-actions.js')).renderAction(inv, pb, f),
    );
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description('prove the LVS cluster works: rules, VIPs, ARP, sysctls, and real traffic from a client (group clients)')
    .argument('<inventory>', 'inventory YAML file')
    .option('-n, --requests <n>', 'requests sent to each VIP:port from the client', intArg(1, 10000), 20)
    .option('--json', 'print the checks as JSON')
    .option('--accept-new-host-keys', 'trust and record unknown host keys')
    .action(async (inv: string, f: { requests: number; json?: boolean; acceptNewHostKeys?: boolean }) =>
      (await import('./inspect-actions.js')).verifyAction(inv, f),
    );
}
