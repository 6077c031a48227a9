// `provision status`: the cluster on one screen. One round trip per director reads the VIPs it
// holds, the IPVS table (save form for weights/drift, -Ln for connections, --stats, --rate) and
// the monitor's own state; this module parses those outputs and joins them with the inventory.
import type { LvsSpec, VirtualServiceSpec } from './types.js';
import { SBIN_PATH, type Script, sh } from '../core/shell.js';
import { desiredTable, diffIpvs, parseIpvsSave, serviceKey, type IpvsTable } from './ipvs-table.js';
import { respectHealth } from './ipvs-rules.js';
import { memberKey, monHealth, monProbeScript, parseMonOpstatus, type Health, type MemberHealth } from './monitor-state.js';
import { ownedByKeepalived } from './model.js';
import { keepalivedHealth, keepalivedProbeScript, parseKeepalivedState } from './keepalived-state.js';

const MARK = '#provision-status';
const SECTIONS = ['addr', 'save', 'list', 'stats', 'rate', 'mon', 'keepalived', 'now'] as const;
type Section = (typeof SECTIONS)[number];

/**
 * Everything status needs from one director, in one script (one round trip). keepalived's checker
 * state is asked only when the inventory has services under keepalived (the probe signals its checker).
 */
export function statusScript(lvs?: LvsSpec): Script {
  const mark = (section: string) => `${MARK} ${section}`;
  const ka = lvs?.services.some(ownedByKeepalived) ? keepalivedProbeScript(mark('keepalived')) : sh`true`;
  return sh`${SBIN_PATH}
echo ${mark('addr')}; ip -o -4 addr show 2>&1
echo ${mark('save')}; ipvsadm -S -n 2>&1 || echo ${`${MARK}-failed`}
echo ${mark('list')}; ipvsadm -Ln 2>&1
echo ${mark('stats')}; ipvsadm -Ln --stats --exact 2>/dev/null || ipvsadm -Ln --stats 2>&1
echo ${mark('rate')}; ipvsadm -Ln --rate --exact 2>/dev/null || ipvsadm -Ln --rate 2>&1
${monProbeScript(mark('mon'))}
${ka}
echo ${mark('now')}; date +%s`;
}

export function splitSections(stdout: string): Record<Section, string> {
  const out = Object.fromEntries(SECTIONS.map((s) => [s, ''])) as Record<Section, string>;
  let cur: Section | undefined;
  for (const line of stdout.split('\n')) {
    const m = line.startsWith(`${MARK} `) ? (line.slice(MARK.length + 1) as Section) : undefined;
    if (m && (SECTIONS as readonly string[]).includes(m)) {
      cur = m;
      continue;
    }
    if (cur) out[cur] += `${line}\n`;
  }
  return out;
}

/** ipvsadm's print_largenum: K/M/G (decimal) unless --exact. */
export function ipvsNumber(s: string): number {
  const m = /^(\d+)([KMG]?)$/.exec(s);
  if (!m) return Number.NaN;
  return Number(m[1]) * ({ '': 1, K: 1e3, M: 1e6, G: 1e9 } as const)[m[2] as '' | 'K' | 'M' | 'G'];
}

const PROTO: Record<string, string> = { TCP: '-t', UDP: '-u', FWM: '-f', SCTP: '--sctp-service' };

export interface ListedService {
  fields: string[];
  dests: Map<string, string[]>;
}

/**
 * Parses the `ipvsadm -Ln` family (plain, --stats, --rate): service lines ("TCP  VIP:PORT ...",
 * "FWM  1 ...") and their "  -> RIP:PORT ..." lines, keyed like serviceKey(); the columns after
 * the address stay strings (their meaning depends on the variant).
 */
export function parseIpvsList(text: string): Map<string, ListedService> {
  const out = new Map<string, ListedService>();
  let cur: ListedService | undefined;
  for (const raw of text.split('\n')) {
    const tok = raw.trim().split(/\s+/);
    if (tok[0] === '->') {
      if (cur && tok[1] && /^\d/.test(tok[1])) cur.dests.set(tok[1], tok.slice(2));
      continue;
    }
    const flag = PROTO[tok[0] ?? ''];
    if (flag && tok[1] && /^[\d[]/.test(tok[1])) {
      cur = { fields: tok.slice(2), dests: new Map() };
      out.set(`${flag} ${tok[1]}`, cur);
    } else cur = undefined;
  }
  return out;
}

/** What one director printed, parsed. */
export interface DirectorState {
  director: string;
  error?: string;
  addresses: string[];
  table: IpvsTable;
  list: Map<string, ListedService>;
  stats: Map<string, ListedService>;
  rate: Map<string, ListedService>;
  health: Map<string, MemberHealth>;
  monError?: string;
}

export function parseDirector(director: string, stdout: string, lvs: LvsSpec): DirectorState {
  const s = splitSections(stdout);
  const addresses = [...s.addr.matchAll(/\binet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!);
  let table: IpvsTable = [];
  let error: string | undefined;
  if (s.save.includes(`${MARK}-failed`)) error = `ipvsadm -S -n failed: ${s.save.replace(`${MARK}-failed`, '').trim()}`;
  else {
    try {
      table = parseIpvsSave(s.save);
    } catch (e) {
      error = (e as Error).message;
    }
  }
  let monError: string | undefined;
  let health = new Map<string, MemberHealth>();
  if (lvs.services.some((x) => x.health.monitor === 'mon')) {
    try {
      health = monHealth(lvs, parseMonOpstatus(s.mon));
    } catch (e) {
      monError = (e as Error).message;
      health = monHealth(lvs, e as Error);
    }
  }
  if (lvs.services.some(ownedByKeepalived)) {
    let ka: ReturnType<typeof parseKeepalivedState> | Error;
    try {
      ka = parseKeepalivedState(s.keepalived);
    } catch (e) {
      ka = e as Error;
      monError = monError ? `${monError}; ${ka.message}` : ka.message;
    }
    for (const [k, h] of keepalivedHealth(lvs, ka)) health.set(k, h);
  }
  return {
    director,
    ...(error ? { error } : {}),
    addresses,
    table,
    list: parseIpvsList(s.list),
    stats: parseIpvsList(s.stats),
    rate: parseIpvsList(s.rate),
    health,
    ...(monError ? { monError } : {}),
  };
}

export interface RealServerStatus {
  host?: string;
  address: string;
  /** The inventory's weight. */
  weight: number;
  /** Weight in the live table; null = not in the table. */
  liveWeight: number | null;
  health: Health;
  since?: string;
  healthDetail: string;
  active: number;
  inactive: number;
  /** Connections since the table was loaded, and current rates (ipvsadm --stats / --rate). */
  conns: number;
  cps: number;
  inBps: number;
  outBps: number;
}

export interface ServiceStatus {
  name: string;
  key: string;
  monitor: string;
  /** Directors holding the VIP (with a backup director, both are listed by name). */
  vipHolders: string[];
  /** The director whose table is shown: the VIP holder, else the first director. */
  shownFrom: string;
  realServers: RealServerStatus[];
  /** Differences between the live table and the inventory (health-aware: a member down by its check is not drift). */
  drift: string[];
  /** Members in the table and not reported down. */
  healthy: number;
}

export interface ClusterStatus {
  services: ServiceStatus[];
  errors: { host: string; error: string }[];
  ok: boolean;
}

const col = (l: ListedService | undefined, dest: string, i: number) => {
  const v = l?.dests.get(dest)?.[i];
  return v === undefined ? 0 : ipvsNumber(v);
};

function serviceStatus(svc: VirtualServiceSpec, directors: DirectorState[]): ServiceStatus {
  const [desired] = desiredTable({ services: [svc] });
  const key = serviceKey(desired!);
  const vipHolders = directors.filter((d) => svc.vip && d.addresses.includes(svc.vip)).map((d) => d.director);
  const shown = directors.find((d) => d.director === vipHolders[0]) ?? directors[0];
  const live = shown?.table.find((s) => serviceKey(s) === key);
  const keepalived = ownedByKeepalived(svc);
  const health = shown?.health ?? new Map<string, MemberHealth>();
  const realServers = desired!.dests.map((d, i): RealServerStatus => {
    const ld = live?.dests.find((x) => x.address === d.address);
    const h = health.get(memberKey(key, d.address));
    return {
      ...(svc.realServers[i]?.host ? { host: svc.realServers[i]!.host } : {}),
      address: d.address,
      weight: d.weight,
      liveWeight: ld ? ld.weight : null,
      health: h?.health ?? 'unknown',
      ...(h?.since ? { since: h.since } : {}),
      healthDetail: h?.detail ?? (keepalived ? 'keepalived state not read' : svc.health.monitor === 'none' ? 'no monitor' : 'monitor state unknown'),
      // -Ln: Forward Weight ActiveConn InActConn; --stats: Conns InPkts OutPkts InBytes OutBytes; --rate: CPS InPPS OutPPS InBPS OutBPS
      active: col(shown?.list.get(key), d.address, 2),
      inactive: col(shown?.list.get(key), d.address, 3),
      conns: col(shown?.stats.get(key), d.address, 0),
      cps: col(shown?.rate.get(key), d.address, 0),
      inBps: col(shown?.rate.get(key), d.address, 3),
      outBps: col(shown?.rate.get(key), d.address, 4),
    };
  });
  let drift: string[];
  if (!shown || shown.error) drift = [`table not read${shown?.error ? `: ${shown.error}` : ''}`];
  else if (!live) drift = [`service ${key} is not in the live table of ${shown.director}`];
  else {
    const want = respectHealth([desired!], [live], health).table;
    // keepalived adds and removes its members itself: a member it has not judged (state unreadable,
    // not checked) is not compared; one it reports alive while missing from the table is drift (`up` re-adds it).
    if (keepalived)
      want[0]!.dests = want[0]!.dests.filter((d) => live.dests.some((x) => x.address === d.address) || health.get(memberKey(key, d.address))?.health === 'up');
    drift = diffIpvs([live], want).map((c) => c.why);
  }
  const healthy = realServers.filter((r) => r.liveWeight !== null && r.health !== 'down').length;
  return { name: svc.name, key, monitor: svc.health.monitor, vipHolders, shownFrom: shown?.director ?? '-', realServers, drift, healthy };
}

export function clusterStatus(lvs: LvsSpec, directors: DirectorState[]): ClusterStatus {
  const services = lvs.services.map((s) => serviceStatus(s, directors));
  const errors = directors.filter((d) => d.error).map((d) => ({ host: d.director, error: d.error! }));
  return { services, errors, ok: errors.length === 0 && services.every((s) => s.healthy > 0) };
}

const rate = (bps: number) => (bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} MB/s` : bps >= 1e3 ? `${(bps / 1e3).toFixed(1)} kB/s` : `${bps} B/s`);

/** The one-screen text. */
export function renderStatus(st: ClusterStatus): string {
  const lines: string[] = [];
  for (const s of st.services) {
    lines.push(
      `${s.name}  ${s.key}  monitor ${s.monitor}  VIP on ${s.vipHolders.length ? s.vipHolders.join(', ') : 'NO DIRECTOR'}  (table of ${s.shownFrom})  healthy ${s.healthy}/${s.realServers.length}`,
    );
    const w = Math.max(...s.realServers.map((r) => (r.host ?? r.address).length));
    for (const r of s.realServers) {
      const weight =
        r.liveWeight === null
          ? `weight ${r.weight} (not in table)`
          : r.liveWeight === r.weight
            ? `weight ${r.weight}`
            : `weight ${r.liveWeight} (inventory ${r.weight})`;
      const health = r.health === 'down' ? `DOWN${r.since ? ` since ${r.since}` : ''}` : r.health;
      lines.push(
        `  ${(r.host ?? r.address).padEnd(w)}  ${r.address}  ${weight}  ${health}  active ${r.active} inactive ${r.inactive}  conns ${r.conns}  ${r.cps} conn/s in ${rate(r.inBps)} out ${rate(r.outBps)}`,
      );
      if (r.health !== 'up') lines.push(`  ${' '.repeat(w)}  health: ${r.healthDetail}`);
    }
    lines.push(`  drift: ${s.drift.length ? s.drift.join('; ') : 'none'}`);
  }
  for (const e of st.errors) lines.push(`${e.host}: ERROR ${e.error}`);
  const bad = st.services.filter((s) => s.healthy === 0).map((s) => s.name);
  lines.push(
    bad.length
      ? `status: NO HEALTHY REAL SERVER for ${bad.join(', ')}`
      : st.errors.length
        ? 'status: ERRORS'
        : 'status: every service has a healthy real server',
  );
  return lines.join('\n');
}
