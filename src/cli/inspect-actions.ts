// `facts`, `render` and `verify` at work; loaded by inspect-commands.ts only when one of them runs.
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
import { loadPlaybook, preflight } from './playbook-loader.js';
import { DEFAULT_PLAYBOOK, color } from './common.js';

export async function factsAction(inv: string, f: { limit?: string; acceptNewHostKeys?: boolean }): Promise<void> {
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
}

export async function renderAction(inv: string, pb: string | undefined, f: { facts: string; limit?: string; out?: string; format: string }): Promise<void> {
  const inventory = loadInventory(inv);
  const { name, playbook, projectDir } = await loadPlaybook(pb ?? DEFAULT_PLAYBOOK);
  preflight(playbook, name, inventory);
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
}

export async function verifyAction(inv: string, f: { requests: number; json?: boolean; acceptNewHostKeys?: boolean }): Promise<void> {
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
}
