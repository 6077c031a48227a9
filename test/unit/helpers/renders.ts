// The offline renders the golden and static-check tests share: the seed inventory with the seed's
// legacy facts, and one lab-style inventory with each OS facts fixture. Nothing connects anywhere.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadInventory } from '../../../src/inventory/load.js';
import { selectHosts } from '../../../src/inventory/select.js';
import { loadFactsFixture } from '../../../src/core/facts-fixture.js';
import { renderOffline, type HostRender } from '../../../src/core/offline.js';
import site from '../../../playbooks/site.js';

export const ROOT = fileURLToPath(new URL('../../../..', import.meta.url));

export interface RenderCase {
  name: string;
  inventory: string;
  facts: string;
  /** Host vars set on top of the inventory's (e.g. a pushed mon where the OS has none). */
  vars?: Record<string, Record<string, unknown>>;
}

/** The seed's mon tarball stand-in: where an OS (EL 9) has no mon package, the golden pushes this. */
export const MON_STANDIN = {
  path: 'inventory/artifacts/mon-0.99.2.STANDIN.tar.gz',
  sha256: 'd5eda4c1bcc3c2937281a508330c6e0cbb100c01faf3887aa05dbaf6d875e33e',
  kind: 'tarball',
};

export const CASES: RenderCase[] = [
  { name: 'seed', inventory: 'inventory/seed.yaml', facts: 'test/fixtures/facts/seed-legacy.yaml' },
  { name: 'centos-4.5', inventory: 'test/fixtures/inventory/golden.yaml', facts: 'test/fixtures/facts/centos-4.5.yaml' },
  // RHEL AS 3 as director too: no IPVS in its kernel and no mon in its channels, both clear errors.
  { name: 'rhel-as-3', inventory: 'test/fixtures/inventory/golden.yaml', facts: 'test/fixtures/facts/rhel-as-3.yaml' },
  { name: 'centos-5', inventory: 'test/fixtures/inventory/golden.yaml', facts: 'test/fixtures/facts/centos-5.yaml' },
  // EL 9 has no mon nor perl-Mon (not even EPEL 9): mon from its tarball, and an empty
  // mon_packages says its perl modules are provided otherwise (without both: a clear error, see golden-seed).
  {
    name: 'rocky-9',
    inventory: 'test/fixtures/inventory/golden.yaml',
    facts: 'test/fixtures/facts/rocky-9.yaml',
    vars: { director: { mon_source: MON_STANDIN, mon_packages: [] } },
  },
  { name: 'debian-12', inventory: 'test/fixtures/inventory/golden.yaml', facts: 'test/fixtures/facts/debian-12.yaml' },
  { name: 'ubuntu-24.04', inventory: 'test/fixtures/inventory/golden.yaml', facts: 'test/fixtures/facts/ubuntu-24.04.yaml' },
];

export async function renderCase(c: RenderCase) {
  const inventory = loadInventory(join(ROOT, c.inventory));
  const hosts = selectHosts(inventory, 'all').map((h) => (c.vars?.[h.name] ? { ...h, vars: { ...h.vars, ...c.vars[h.name] } } : h));
  return renderOffline({
    inventory,
    playbook: site,
    playbookName: 'site',
    hosts,
    facts: loadFactsFixture(join(ROOT, c.facts)),
    projectDir: ROOT,
  });
}

const cache = new Map<string, ReturnType<typeof renderCase>>();
export function rendered(c: RenderCase) {
  if (!cache.has(c.name)) cache.set(c.name, renderCase(c));
  return cache.get(c.name)!;
}

/** The whole render of every host as one reviewable text: recap, tasks and changes, every file, every command. */
export function serialize(hosts: Record<string, HostRender>): string {
  const rel = (s: string) => s.split(ROOT).join('<project>/');
  const out: string[] = [];
  for (const [name, h] of Object.entries(hosts)) {
    out.push(`######## host ${name}`);
    if (h.report.error) {
      out.push(`ERROR: ${rel(h.report.error)}`, '');
      continue;
    }
    const r = h.report.recap;
    out.push(`recap: ok=${r.ok} changed=${r.changed} failed=${r.failed} skipped=${r.skipped}`, '', '#### tasks');
    for (const t of h.report.tasks) {
      out.push(`- [${t.status}] ${t.task} (${t.module})${t.error ? `: ${rel(t.error)}` : ''}`);
      for (const c of t.changes) out.push(`    * ${rel(c.summary)}`);
    }
    out.push('');
    for (const f of [...h.files].sort((a, b) => a.path.localeCompare(b.path))) {
      out.push(`#### file ${f.path} (mode ${f.mode ?? 'default'}, task: ${f.task})`, f.content.toString('utf8').replace(/\n$/, ''), '');
    }
    out.push('#### commands');
    for (const c of h.commands) out.push(rel(c), '# ---');
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
