// `provision verify`: proves the cluster works, from the inside and from a client.
// Director: live table equals the inventory, VIP present (NAT: forwarding on). Real servers:
// VIP on tunl0/lo, effective ARP and rp_filter sysctls, NAT gateway, service listening.
// Client: ARP for the VIP answered by the director only; N requests to VIP:port answered by
// every real server in the expected proportions. A failure names the cause it found.
import { randomBytes } from 'node:crypto';
import type { Connection } from '../core/types.js';
import type { HostEntry, Inventory } from '../inventory/types.js';
import type { VirtualServiceSpec } from './types.js';
import { SBIN_PATH, Script, raw, sh } from '../core/shell.js';
import { canonicalIpvs, desiredTable, parseIpvsSave, serviceKey } from './ipvs-table.js';
import { dnsQueries, parseDnsReplies } from './dns-probe.js';
import { KeyValues } from '../core/key-values.js';

export interface Check {
  host: string;
  check: string;
  ok: boolean;
  detail: string;
  cause?: string;
}

export interface VerifyReport {
  checks: Check[];
  counts: Record<string, Record<string, number>>;
  ok: boolean;
}

export interface VerifyOptions {
  inventory: Inventory;
  requests: number;
  connect(h: HostEntry): Promise<Connection>;
}

type Add = (host: string, check: string, ok: boolean, detail: string, cause?: string) => void;

const run = async (c: Connection, script: Script) => c.exec(sh`${SBIN_PATH}\n${script}`, { become: true });
const num = (s: string | undefined) => Number.parseInt((s ?? '').trim(), 10);

export async function verifyCluster(o: VerifyOptions): Promise<VerifyReport> {
  const inv = o.inventory;
  const counts: Record<string, Record<string, number>> = {};
  // Hosts are checked in parallel (every VM or server works at once), each into its own list,
  // so the report keeps a fixed order: directors, real servers, client.
  const sections: Check[][] = [];
  const section = (): Add => {
    const list: Check[] = [];
    sections.push(list);
    return (host, check, ok, detail, cause) => {
      list.push({ host, check, ok, detail, ...(ok ? {} : { cause }) });
    };
  };
  const lvs = inv.lvs;
  if (!lvs) return { checks: [{ host: '-', check: 'inventory', ok: false, detail: 'no lvs section', cause: 'inventory' }], counts, ok: false };
  const group = (g: string) => (inv.groups.get(g) ?? []).map((n) => inv.hosts.get(n)!);
  const directors = group('directors');
  const client = group('clients')[0];
  const rsHosts = group('real_servers');
  const conns = new Map<string, Promise<Connection>>();
  const conn = (h: HostEntry) => {
    if (!conns.has(h.name)) conns.set(h.name, o.connect(h));
    return conns.get(h.name)!;
  };
  try {
    await Promise.all([...directors, ...rsHosts, ...(client ? [client] : [])].map(conn));
    const rsDown = new Set<string>();
    const held = new Map<string, string>(); // director -> its `ip -o -4 addr show`
    const syncd = new Map<string, string>(); // director -> its `ipvsadm -L --daemon`
    const bodies = new Map<string, string>(); // page body -> real server label

    // --- director: the live table and the VIP
    const directorChecks = async (d: HostEntry, add: Add) => {
      const c = await conn(d);
      const live = await run(c, sh`ipvsadm -S -n`);
      if (live.code !== 0) add(d.name, 'IPVS table', false, live.stderr.trim(), 'missing rule (IPVS not readable: is ip_vs loaded?)');
      else {
        const want = desiredTable(lvs);
        const have = parseIpvsSave(live.stdout);
        const same = canonicalIpvs(have) === canonicalIpvs(want);
        const missing: string[] = [];
        for (const s of want) {
          const hs = have.find((x) => serviceKey(x) === serviceKey(s));
          if (!hs) missing.push(`service ${serviceKey(s)}`);
          else for (const dst of s.dests) if (!hs.dests.some((x) => x.address === dst.address)) missing.push(`${dst.address} in ${serviceKey(s)}`);
        }
        add(
          d.name,
          'IPVS table equals the inventory',
          same,
          same ? `${want.length} service(s)` : `live:\n${live.stdout.trim()}`,
          missing.length ? `missing rule: ${missing.join(', ')}` : 'rules differ from the inventory (weights, methods or extra entries)',
        );
      }
      const addrs = (await run(c, sh`ip -o -4 addr show`)).stdout;
      held.set(d.name, addrs);
      // Two directors (lvs.ha): which one holds a VIP is VRRP's choice, checked across directors below.
      if (!lvs.ha)
        for (const vip of new Set(lvs.services.map((s) => s.vip))) {
          add(
            d.name,
            `VIP ${vip} on the director`,
            addrs.includes(` ${vip}/`),
            addrs.includes(` ${vip}/`) ? 'present' : 'absent',
            'VIP missing on the director',
          );
        }
      if (lvs.ha?.sync.enabled) syncd.set(d.name, (await run(c, sh`ipvsadm -L --daemon`)).stdout);
      if (lvs.services.some((s) => s.forwarding === 'nat')) {
        const dev = String(d.vars.lan_interface ?? 'eth0');
        const [fwd = '', all = '', ifc = ''] = (
          await run(c, sh`cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/all/send_redirects ${`/proc/sys/net/ipv4/conf/${dev}/send_redirects`}`)
        ).stdout
          .trim()
          .split('\n');
        add(d.name, 'NAT: ip_forward=1', fwd === '1', `ip_forward=${fwd}`, 'NAT director does not forward');
        // send_redirects is OR-ed: one 1 makes real servers answer clients directly, bypassing the un-NAT.
        add(
          d.name,
          `NAT: no ICMP redirects (all and ${dev})`,
          all === '0' && ifc === '0',
          `all=${all} ${dev}=${ifc}`,
          'NAT gateway wrong: the director sends ICMP redirects',
        );
      }
      // Each real server's own page, fetched from the director: it is up, and its body identifies it.
      for (const s of lvs.services)
        for (const rs of s.realServers) {
          const label = rs.host ?? rs.address;
          if (s.protocol === 'udp') {
            // The service's own DNS query, straight to the real server: its answer identifies it.
            const r = await run(c, dnsQueries(rs.address, rs.port, s.health.query ?? '.', 1, 3));
            const [answer] = parseDnsReplies(r.stdout);
            if (answer === undefined) rsDown.add(label);
            else bodies.set(replyKey(s, answer), bodies.has(replyKey(s, answer)) ? AMBIGUOUS : label);
            add(
              d.name,
              `real server ${label} answers DNS ${s.health.query} on ${rs.address}:${rs.port}/udp`,
              answer !== undefined,
              answer !== undefined ? `A ${answer}` : r.stdout.trim() || `perl exit ${r.code}: ${r.stderr.trim()}`,
              `real server ${label} down (no DNS answer on udp ${rs.port})`,
            );
            continue;
          }
          const r = await run(c, sh`curl -s -m 3 ${`http://${rs.address}:${rs.port}${s.health.url}`}`);
          const up = r.code === 0 && r.stdout.length > 0;
          if (!up) rsDown.add(label);
          else bodies.set(r.stdout, label);
          add(
            d.name,
            `real server ${label} answers ${rs.address}:${rs.port}`,
            up,
            up ? `${r.stdout.length} bytes` : `curl exit ${r.code}`,
            `real server ${label} down`,
          );
        }
    };

    // --- real servers
    const realServerChecks = async (rsHost: HostEntry, add: Add) => {
      const roles = lvs.services.filter((s) => s.realServers.some((r) => r.host === rsHost.name));
      if (!roles.length) return;
      const c = await conn(rsHost);
      const fwd = roles[0]!.forwarding;
      // Each port this host serves, with its protocol (a tcp and a udp service may share a VIP).
      const listeners = [
        ...new Map(
          roles.flatMap((s) =>
            s.realServers.filter((r) => r.host === rsHost.name).map((r) => [`${r.port}/${s.protocol}`, { port: r.port, udp: s.protocol === 'udp' }] as const),
          ),
        ).values(),
      ];
      const state = await run(
        c,
        Script.join(
          [
            raw(
              'for k in all/arp_ignore all/arp_announce all/rp_filter tunl0/rp_filter; do printf "%s=%s\\n" "$k" "$(cat /proc/sys/net/ipv4/conf/$k 2>/dev/null)"; done',
            ),
            raw('echo "--addr"; ip -o -4 addr show'),
            // RHEL 3 has no ss (and EL 5/6's has no -H): netstat's listening sockets instead.
            ...listeners.map(
              (l, i) =>
                sh`echo ${`--listen${i}`}; { command -v ss >/dev/null 2>&1 && ss ${l.udp ? '-Hlun' : '-Hltn'} ${`sport = :${l.port}`} 2>/dev/null; } || netstat ${l.udp ? '-lun' : '-ltn'} 2>/dev/null | awk ${`$4 ~ /:${l.port}$/`}`,
            ),
            ...(fwd === 'nat' && client ? [sh`echo "--route"; ip route get ${String(client.vars.lan_address ?? '0.0.0.0')}`] : []),
            // Kernels without arp_ignore (2.4) hide the VIP with noarp or arptables instead.
            raw('echo "--arp"; noarpctl list 2>/dev/null; arptables -L -n 2>/dev/null; true'),
          ],
          '\n',
        ),
      );
      const kv = new KeyValues(state.stdout);
      const part = (name: string) => (state.stdout.split(new RegExp(`^--${name}$`, 'm'))[1] ?? '').split(/^--(?:addr|listen\d+|route|arp)$/m)[0]!;
      const [addrPart, routePart, arpPart] = ['addr', 'route', 'arp'].map(part) as [string, string, string];
      listeners.forEach((l, i) => {
        const listenPart = part(`listen${i}`);
        const what = `${l.udp ? 'udp' : ''}:${l.port}`;
        add(
          rsHost.name,
          `service listening on ${what}`,
          listenPart.trim().length > 0,
          listenPart.trim() || 'nothing listening',
          `real server ${rsHost.name} down (nothing listens on ${what})`,
        );
      });
      if (fwd === 'nat') {
        // Two directors: the floating gateway, which follows the master.
        const dip = lvs.ha?.natGateway ?? String(directors[0]?.vars.dip ?? '');
        // "cache <redirected>" means an ICMP redirect already sent replies around the director.
        const ok = routePart.includes(`via ${dip} `) && !routePart.includes('redirected');
        add(rsHost.name, `NAT: replies to the client go via the director ${dip}`, ok, routePart.trim(), `NAT gateway wrong on ${rsHost.name}`);
        return;
      }
      const dev = fwd === 'tun' ? 'tunl0' : 'lo';
      for (const vip of new Set(roles.map((s) => s.vip))) {
        const ok = new RegExp(`^\\d+: ${dev}\\s+inet ${vip.replace(/\./g, '\\.')}/32 `, 'm').test(addrPart);
        add(rsHost.name, `VIP ${vip}/32 on ${dev}`, ok, ok ? 'present' : 'absent', `VIP missing on ${rsHost.name}`);
      }
      const ai = num(kv.get('all/arp_ignore'));
      const aa = num(kv.get('all/arp_announce'));
      if (!kv.get('all/arp_ignore')) {
        const hidden = [...new Set(roles.map((s) => s.vip))].every((vip) =>
          new RegExp(`(^|[^0-9.])${vip.replace(/\./g, '\\.')}([^0-9.]|$)`, 'm').test(arpPart),
        );
        add(
          rsHost.name,
          'ARP: the VIP hidden by noarp or arptables (kernel without arp_ignore)',
          hidden,
          arpPart.trim() || 'no noarp entry or arptables rule',
          `ARP problem on ${rsHost.name} (no arp_ignore in its kernel and no noarp/arptables entry for the VIP)`,
        );
      } else
        add(
          rsHost.name,
          'ARP: arp_ignore>=1, arp_announce=2',
          ai >= 1 && aa === 2,
          `arp_ignore=${ai} arp_announce=${aa}`,
          `ARP problem on ${rsHost.name} (it may answer ARP for the VIP)`,
        );
      if (fwd === 'tun') {
        // The kernel uses max(all, dev): 1 (strict) on either drops decapsulated packets.
        const rp = Math.max(num(kv.get('all/rp_filter')), num(kv.get('tunl0/rp_filter')));
        add(rsHost.name, 'TUN: rp_filter not strict', rp !== 1, `effective rp_filter=${rp}`, `rp_filter drop on ${rsHost.name}`);
      }
    };

    await Promise.all([...directors.map((d) => directorChecks(d, section())), ...rsHosts.map((h) => realServerChecks(h, section()))]);

    // --- two directors: one master holds every floating address, the sync daemons pair up
    const master = lvs.ha ? haChecks(lvs, directors, held, syncd, section()) : undefined;

    // --- from the client, once the real servers' pages are known: ARP, then traffic
    const add = section();
    // Only the VIP's holder counts connections, so the sum over the directors is the holder's.
    const ipvsConns: IpvsConns = async (s) => {
      const maps = await Promise.all(
        directors.map(async (d) => parseIpvsConns((await run(await conn(d), sh`ipvsadm -Ln --stats --exact -u ${`${s.vip}:${s.port}`}`)).stdout)),
      );
      const sum = new Map<string, number>();
      for (const m of maps) for (const [k, v] of m) sum.set(k, (sum.get(k) ?? 0) + v);
      return sum;
    };
    if (client) {
      const c = await conn(client);
      const clientAddr = String(client.vars.lan_address ?? '');
      const syncing = master && lvs.ha?.sync.enabled ? master : undefined;
      const before = syncing ? await clientConnections(lvs.services, clientAddr, directors.find((d) => d.name === syncing)!, conn) : new Set<string>();
      const iface = String(client.vars.lan_interface ?? 'eth1');
      for (const s of lvs.services) {
        if (s.forwarding !== 'nat')
          await checkArp(s, c, client.name, iface, master ? directors.filter((d) => d.name === master) : directors, conn, add, !!lvs.ha);
        await checkTraffic(s, c, client.name, o.requests, bodies, rsDown, counts, add, ipvsConns);
      }
      if (syncing) await checkSyncedConnections(lvs.services, clientAddr, syncing, before, directors, conn, section());
    } else add('-', 'client', false, 'no host in group clients', 'no client to test from');
  } finally {
    await Promise.all([...conns.values()].map((p) => p.then((c) => c.close()).catch(() => {})));
  }
  const checks = sections.flat();
  return { checks, counts, ok: checks.every((c) => c.ok) };
}

/**
 * lvs.ha: exactly one director (the VRRP master) holds each VIP and floating address, and the
 * sync daemons run with the same id: a master daemon on the master, backup daemons elsewhere.
 * Returns the master's name (undefined when there is none, or several).
 */
function haChecks(
  lvs: NonNullable<Inventory['lvs']>,
  directors: HostEntry[],
  held: Map<string, string>,
  syncd: Map<string, string>,
  add: Add,
): string | undefined {
  const ha = lvs.ha!;
  const floating = [...new Set(lvs.services.map((s) => s.vip)), ...(ha.natGateway ? [ha.natGateway] : []), ...ha.floating.map((c) => c.split('/')[0]!)];
  const holders = new Set<string>();
  for (const addr of floating) {
    const who = directors.filter((d) => (held.get(d.name) ?? '').includes(` ${addr}/`)).map((d) => d.name);
    who.forEach((w) => holders.add(w));
    add(
      'directors',
      `${addr} held by exactly one director`,
      who.length === 1,
      who.length ? `on ${who.join(', ')}` : 'on none',
      who.length === 0
        ? `VIP missing on every director (is keepalived running? ${addr})`
        : `split brain: ${who.join(' and ')} both hold ${addr} (VRRP adverts not reaching each other?)`,
    );
  }
  const master = holders.size === 1 ? [...holders][0] : undefined;
  add(
    'directors',
    'one VRRP master holds every floating address',
    master !== undefined,
    master ? `master ${master}` : `holders: ${[...holders].join(', ') || 'none'}`,
    'VRRP: the floating addresses are not on one director',
  );
  if (ha.sync.enabled) {
    for (const d of directors) {
      const out = syncd.get(d.name) ?? '';
      const role = d.name === master ? 'master' : 'backup';
      const m = new RegExp(`${role} sync daemon \\(mcast=([^,]+), syncid=(\\d+)`).exec(out);
      const ok = !!m && Number(m[2]) === ha.sync.id;
      add(
        d.name,
        `${role} sync daemon with syncid ${ha.sync.id}`,
        ok,
        out.trim() || 'no sync daemon',
        m ? `sync daemon id ${m[2]} differs from ${ha.sync.id}` : `no ${role} sync daemon on ${d.name}: connections would not survive a takeover`,
      );
    }
  }
  return master;
}

/** A director's connections from the client to the VIPs (`ipvsadm -Lnc`), as "source virtual destination". */
async function clientConnections(
  services: VirtualServiceSpec[],
  clientAddr: string,
  d: HostEntry,
  conn: (h: HostEntry) => Promise<Connection>,
): Promise<Set<string>> {
  const vips = new Set(services.map((s) => `${s.vip}:${s.port}`));
  const out = (await run(await conn(d), sh`ipvsadm -Lnc`)).stdout;
  // pro expire state source virtual destination
  return new Set(
    out
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 6 && vips.has(f[4]!) && (!clientAddr || f[3]!.startsWith(`${clientAddr}:`)))
      .map((f) => `${f[3]} ${f[4]} ${f[5]}`),
  );
}

/**
 * After traffic: the backups' connection tables (ipvsadm -Lnc) hold the master's connections from
 * the client to the VIPs (the sync daemon sends each after a few packets; waits up to 5 s). Only
 * the connections of this verify count: `before` is the master's table before its requests (older
 * ones, e.g. made before the sync daemons ran, may never have been synced and are not asked for).
 */
async function checkSyncedConnections(
  services: VirtualServiceSpec[],
  clientAddr: string,
  master: string,
  before: Set<string>,
  directors: HostEntry[],
  conn: (h: HostEntry) => Promise<Connection>,
  add: Add,
) {
  const table = (d: HostEntry) => clientConnections(services, clientAddr, d, conn);
  const sources = new Set([...before].map((x) => x.split(' ')[0]));
  const mine = new Set([...(await table(directors.find((d) => d.name === master)!))].filter((x) => !sources.has(x.split(' ')[0])));
  for (const b of directors.filter((d) => d.name !== master)) {
    let have = new Set<string>();
    for (let i = 0; i < 10; i++) {
      have = await table(b);
      if (mine.size > 0 && [...mine].every((x) => have.has(x))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const synced = [...mine].filter((x) => have.has(x)).length;
    // Half at least: the sync daemon sends by UDP and may lose some; none synced is the failure.
    const ok = mine.size > 0 && synced * 2 >= mine.size;
    add(
      b.name,
      `holds the master's connections (ipvsadm -Lnc)`,
      ok,
      `${synced} of ${master}'s ${mine.size} client connection(s)`,
      mine.size === 0
        ? `no connection on ${master} to compare (did the requests go through it?)`
        : `sync broken: ${b.name} holds ${synced} of ${mine.size} connections`,
    );
  }
}

async function checkArp(
  s: VirtualServiceSpec,
  c: Connection,
  clientName: string,
  iface: string,
  directors: HostEntry[],
  conn: (h: HostEntry) => Promise<Connection>,
  add: Add,
  onlyOne = false,
) {
  const r = await run(c, sh`arping -c 3 -w 4 -I ${iface} ${s.vip} 2>&1`);
  const macs = [...new Set([...r.stdout.matchAll(/\[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1]!.toLowerCase()))];
  const dmacs: string[] = [];
  for (const d of directors) {
    const dev = String(d.vars.lan_interface ?? 'eth0');
    dmacs.push((await run(await conn(d), sh`cat ${`/sys/class/net/${dev}/address`}`)).stdout.trim().toLowerCase());
  }
  const strangers = macs.filter((m) => !dmacs.includes(m));
  // Two directors: only the master's MAC (`directors` holds just the master then).
  const ok = macs.length > 0 && strangers.length === 0 && (!onlyOne || macs.length === 1);
  add(
    clientName,
    `ARP for ${s.vip} answered by the director only`,
    ok,
    `replies from ${macs.join(', ') || 'nobody'} (director ${dmacs.join(', ')})`,
    macs.length === 0 ? `ARP problem: nobody answers for ${s.vip}` : `ARP problem: ${strangers.join(', ')} answer(s) for ${s.vip} besides the director`,
  );
}

/** IPVS's connection counters of a service's real servers ("address:port" -> Conns), summed over the directors. */
export type IpvsConns = (s: VirtualServiceSpec) => Promise<Map<string, number>>;

export async function checkTraffic(
  s: VirtualServiceSpec,
  c: Connection,
  clientName: string,
  n: number,
  bodies: Map<string, string>,
  rsDown: Set<string>,
  counts: Record<string, Record<string, number>>,
  add: Add,
  ipvsConns?: IpvsConns,
) {
  const { tally, what } = s.protocol === 'udp' ? await udpTally(s, c, n, bodies, ipvsConns) : await httpTally(s, c, n, bodies);
  counts[s.name] = tally;
  judgeTraffic(s, clientName, n, tally, what, rsDown, add);
}

async function httpTally(s: VirtualServiceSpec, c: Connection, n: number, bodies: Map<string, string>) {
  const url = `http://${s.vip}:${s.port}${s.health.url}`;
  // One curl for all N requests (a process costs ~0.1 s under emulation), each on a new
  // connection (Connection: close) so IPVS schedules every one; each response is followed by a
  // marker line with a random nonce and its status (000: the request failed).
  const mark = `__verify_${randomBytes(6).toString('hex')}`;
  const r = await run(c, sh`curl -s -m 3 -H 'Connection: close' -w ${`\n${mark} %{http_code}\n`} ${Array<string>(n).fill(url)}`);
  const tally: Record<string, number> = {};
  const parts = r.stdout.split(new RegExp(`\n${mark} (\\d{3})\n`));
  for (let i = 0; i < n; i++) {
    const body = parts[2 * i];
    const code = parts[2 * i + 1];
    const who = code === undefined || code === '000' || body === undefined ? 'failed' : (bodies.get(body) ?? 'unknown');
    tally[who] = (tally[who] ?? 0) + 1;
  }
  return { tally, what: `${n} requests to ${s.vip}:${s.port}` };
}

/** The key of a udp service's answer in `bodies` (answer text -> the real server that gives it). */
export const replyKey = (s: VirtualServiceSpec, answer: string) => `udp ${s.name} ${answer}`;
/** Two real servers gave the same answer: it names neither. */
export const AMBIGUOUS = '\0ambiguous';

/**
 * N DNS queries to VIP:port, each from a fresh socket. An answer names the real server that gives
 * it (seen from the director); when the real servers all give the same answer (a real DNS
 * server), the spread comes from the directors' IPVS counters (Conns of each real server, before
 * and after), and the answers only say how many queries succeeded.
 */
async function udpTally(s: VirtualServiceSpec, c: Connection, n: number, bodies: Map<string, string>, ipvsConns?: IpvsConns) {
  const before = ipvsConns ? await ipvsConns(s) : undefined;
  const replies = parseDnsReplies((await run(c, dnsQueries(s.vip, s.port, s.health.query ?? '.', n, 3))).stdout);
  let tally: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const a = replies[i];
    const who = a === undefined ? 'failed' : (bodies.get(replyKey(s, a)) ?? 'unknown');
    tally[who] = (tally[who] ?? 0) + 1;
  }
  const what = `${n} DNS queries (A ${s.health.query}) to ${s.vip}:${s.port}/udp`;
  if (!tally[AMBIGUOUS]) return { tally, what };
  const answered = n - (tally.failed ?? 0);
  if (!before || !ipvsConns) {
    const { [AMBIGUOUS]: same = 0, ...rest } = tally;
    return { tally: { ...rest, unknown: (rest.unknown ?? 0) + same }, what };
  }
  const after = await ipvsConns(s);
  tally = tally.failed ? { failed: tally.failed } : {};
  for (const rs of s.realServers) {
    const key = `${rs.address}:${rs.port}`;
    const delta = (after.get(key) ?? 0) - (before.get(key) ?? 0);
    if (delta > 0) tally[rs.host ?? rs.address] = delta;
  }
  return { tally, what: `${what} (${answered} answered; spread from the directors' IPVS counters: the answers do not name the real server)` };
}

/** Parses `ipvsadm -Ln --stats --exact` real-server lines: "address:port" -> Conns. */
export function parseIpvsConns(stdout: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of stdout.matchAll(/^\s*->\s+(\d+\.\d+\.\d+\.\d+:\d+)\s+(\d+)\s/gm)) out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  return out;
}

function judgeTraffic(s: VirtualServiceSpec, clientName: string, n: number, tally: Record<string, number>, what: string, rsDown: Set<string>, add: Add) {
  const live = s.realServers.filter((rs) => rs.weight > 0 && !rsDown.has(rs.host ?? rs.address));
  const total = live.reduce((a, rs) => a + rs.weight, 0);
  const exact = s.scheduler === 'rr' || s.scheduler === 'wrr';
  const problems: string[] = [];
  const failed = tally.failed ?? 0;
  const summary = Object.entries(tally)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  add(
    clientName,
    `${what} answered`,
    failed === 0,
    summary,
    'requests failed: replies do not reach the client (ARP, rp_filter, NAT gateway or a missing rule; see the checks above)',
  );
  // A spread is judged on answers only: with none, there is nothing to judge (never "ok").
  if (failed === n) {
    add(clientName, `spread of ${s.vip}:${s.port}`, false, summary, 'no request succeeded: the spread cannot be judged');
    return;
  }
  if (s.persistence !== undefined) {
    // Persistent: one client must stay on one real server (its template), whatever the weights.
    const responders = Object.keys(tally).filter((k) => k !== 'failed');
    add(
      clientName,
      `persistence ${s.persistence}s: one client stays on one real server`,
      responders.length === 1 && responders[0] !== 'unknown',
      summary,
      responders.includes('unknown')
        ? "unknown responder (a page that is not any real server's)"
        : `persistence broken: one client was answered by ${responders.join(', ')}`,
    );
    return;
  }
  for (const rs of live) {
    const label = rs.host ?? rs.address;
    const want = (n * rs.weight) / total;
    const got = tally[label] ?? 0;
    const slack = exact ? 1 : Math.max(2, want * 0.25);
    if (Math.abs(got - want) > slack) problems.push(`${label}: ${got} (expected ~${want.toFixed(1)})`);
  }
  add(
    clientName,
    `spread matches ${s.scheduler} with weights ${s.realServers.map((x) => x.weight).join(':')}`,
    problems.length === 0 && !tally.unknown,
    problems.join('; ') || summary,
    tally.unknown ? "unknown responder (a page that is not any real server's)" : `unbalanced: ${problems.join('; ')}`,
  );
}
