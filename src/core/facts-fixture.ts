// Facts from a YAML fixture for offline rendering of inventories that must never be connected to
// from here (the seed's production addresses). Per host either the facts script's raw output (a
// string, exactly as FACTS_SCRIPT prints it on such a host, parsed by the live parser) or the
// parsed HostFacts as a mapping.
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { z } from 'zod';
import type { HostFacts } from './types.js';
import { UsageError } from './errors.js';
import { parseFacts } from './facts.js';

const factsSchema = z
  .object({
    hostname: z.string(),
    os: z.object({ family: z.enum(['debian', 'redhat', 'unknown']), id: z.string(), version: z.string(), prettyName: z.string() }),
    kernel: z.object({ release: z.string(), major: z.number().int(), minor: z.number().int() }),
    init: z.enum(['systemd', 'sysv']),
    packageManager: z.enum(['apt', 'dnf', 'yum', 'up2date', 'unknown']),
    packageDb: z.enum(['dpkg', 'rpm', 'unknown']),
    interfaces: z.array(z.object({ name: z.string(), ipv4: z.array(z.string()), up: z.boolean() })),
    defaultInterface: z.string().nullable(),
    arpSysctls: z.boolean(),
    ipvsadm: z.object({ installed: z.boolean(), version: z.string().nullable() }),
    ipvsKernel: z.boolean(),
    user: z.string(),
    arch: z.string(),
  })
  .strict();

export function loadFactsFixture(file: string): Record<string, HostFacts> {
  let raw: unknown;
  try {
    raw = yaml.load(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`facts fixture ${file}: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object') throw new UsageError(`facts fixture ${file}: expected a mapping host -> facts`);
  const out: Record<string, HostFacts> = {};
  for (const [host, value] of Object.entries(raw as Record<string, unknown>)) {
    const r = factsSchema.safeParse(typeof value === 'string' ? rawFacts(file, host, value) : value);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new UsageError(`facts fixture ${file}: ${host}.${i.path.join('.')}: ${i.message}`);
    }
    out[host] = r.data;
  }
  return out;
}

/** The facts script's output for one host; refuses text that is not that output (a typo'd key would silently default). */
function rawFacts(file: string, host: string, text: string): HostFacts {
  const keys = new Set(
    text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => l.slice(0, l.indexOf('='))),
  );
  for (const k of ['hostname', 'kernel', 'arch', 'user', 'os_id', 'init', 'pkgdb', 'arp_sysctls', 'ipvs_kernel', 'ipvsadm', 'defroute']) {
    if (!keys.has(k)) throw new UsageError(`facts fixture ${file}: ${host}: no ${k}= line (expected the facts script's output)`);
  }
  const known =
    /^(hostname|kernel|arch|user|os_id|os_like|os_version|os_pretty|init|pkgmgr|pkgdb|arp_sysctls|ipvs_kernel|ipvsadm|ipvsadm_version|link|addr|defroute)$/;
  for (const k of keys) if (!known.test(k)) throw new UsageError(`facts fixture ${file}: ${host}: unknown line ${k}= (not printed by the facts script)`);
  return parseFacts(text);
}
