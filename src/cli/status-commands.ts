// `provision status`: the cluster on one screen (one round trip per director), or --json.
// Its work is in status-actions.ts, imported only when it runs (the CLI starts fast).
import type { Command } from 'commander';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      'the LVS cluster on one screen: VIP holder, weights, health (since when), connections and rates, drift; exit 1 when a service has no healthy real server',
    )
    .argument('<inventory>', 'inventory YAML file')
    .option('--json', 'print the status as JSON')
    .option('--accept-new-host-keys', 'trust and record unknown host keys')
    .action(async (inv: string, f: { json?: boolean; acceptNewHostKeys?: boolean }) => (await import('./status-actions.js')).statusAction(inv, f));
}
