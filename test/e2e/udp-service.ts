// A UDP service on the lab's VIP, next to the web service: the real servers run the DNS stand-in
// (test/helpers/dns-stand-in.ts; it answers with the real server's own rip), `up` adds the
// service, and `verify` must probe it with DNS queries (not HTTP) and report a spread that names
// both real servers.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { dump, load } from 'js-yaml';
import { sh } from '../../src/core/shell.js';
import { dnsStandIn } from '../helpers/dns-stand-in.js';

export const UDP_PORT = 53;
export const UDP_QUERY = 'lab.example';

interface LabInventory {
  all: { vars: { lvs: { services: Record<string, unknown>[] } }; children: { real_servers: { hosts: Record<string, { rip: string }> } } };
}

/** A copy of the inventory with the udp service `dns` (rr over every real server, no monitor) on the web service's VIP. */
export function withUdpService(inventory: string): string {
  const inv = load(readFileSync(inventory, 'utf8')) as LabInventory;
  const web = inv.all.vars.lvs.services[0]!;
  inv.all.vars.lvs.services.push({
    name: 'dns',
    vip: web.vip,
    port: UDP_PORT,
    protocol: 'udp',
    scheduler: 'rr',
    forwarding: web.forwarding,
    real_servers: Object.keys(inv.all.children.real_servers.hosts).map((host) => ({ host })),
    health: { monitor: 'none', kind: 'dns', query: UDP_QUERY, interval: 5, timeout: 2 },
  });
  const file = join(dirname(inventory), `inventory-${String(web.forwarding)}-udp.yaml`);
  writeFileSync(file, dump(inv));
  return file;
}

/** The stand-in on a real server, in the background: on its rip and (DR/TUN) the VIP; waits up to 30 s for it to listen (perl starts slowly under TCG). */
export function startStandIn(rip: string, vip: string | undefined): string {
  const standIn = dnsStandIn(UDP_PORT, rip, vip ? [rip, vip] : [rip]).text;
  return sh`setsid sh -c ${standIn} > /tmp/dns-stand-in.log 2>&1 < /dev/null & echo $! > /tmp/dns-stand-in.pid; i=0; while [ $i -lt 60 ] && ! grep -q listening /tmp/dns-stand-in.log; do sleep 0.5; i=$((i+1)); done; cat /tmp/dns-stand-in.log`
    .text;
}

export const stopStandIn = 'kill $(cat /tmp/dns-stand-in.pid) 2>/dev/null; true';

/** verify's report for the udp service: every query answered, spread rr between rs1 and rs2, ok. */
export function assertUdpVerified(
  report: { ok: boolean; checks: { check: string; ok: boolean; detail: string }[]; counts: Record<string, Record<string, number>> },
  n: number,
) {
  const udp = report.checks.filter((c) => /DNS|udp/.test(c.check));
  assert.ok(
    udp.some((c) => c.ok && c.check.startsWith(`${n} DNS queries (A ${UDP_QUERY})`)),
    JSON.stringify(udp),
  );
  assert.deepEqual(report.counts.dns, { rs1: n / 2, rs2: n / 2 });
  assert.ok(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
  return udp;
}
