// The `lvs` section of an inventory (snake_case in YAML): services, real servers, health, lvs.ha.
// Returns RawIssues (data paths); the inventory loader turns them into file positions.
import { z } from 'zod';
import type { RawIssue, DataPath } from '../inventory/errors.js';
import { HOST_NAME_RE, IFACE_RE, SCHEDULERS, ifaceMessage, isIPv4 } from '../inventory/schema.js';
import type { HaSpec, LvsSpec, RealServerSpec, VirtualServiceSpec, HealthCheckSpec } from './types.js';

const int = (min: number, max: number, error: string) => z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
const ipv4 = z.string({ error: 'is not an IPv4 address' }).refine(isIPv4, { error: 'is not an IPv4 address' });
/**
 * Why an address can never be a VIP or floating address (no client's packet reaches a director
 * for it as a unicast destination), or undefined.
 */
export function unusableAddress(ip: string): string | undefined {
  const first = Number(ip.split('.')[0]);
  if (ip === '0.0.0.0') return 'the unspecified address';
  if (first === 0) return 'in 0.0.0.0/8 ("this network", never a destination)';
  if (first === 127) return 'in 127.0.0.0/8 (loopback: never leaves the host)';
  if (first >= 224 && first <= 239) return 'in 224.0.0.0/4 (multicast)';
  if (ip === '255.255.255.255') return 'the limited broadcast address';
  return undefined;
}

const unusableMessage = (why: string) => `is ${why}: a VIP or floating address must be a unicast address clients can reach`;

/** A VIP, nat_gateway: an IPv4 address the directors can hold for clients. */
const serviceAddress = ipv4.superRefine((v, ctx) => {
  const why = isIPv4(v) ? unusableAddress(v) : undefined;
  if (why) ctx.addIssue({ code: 'custom', message: unusableMessage(why) });
});

const oneOf = <T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `is not one of: ${values.join(', ')}` });

/**
 * RFC 3986 path and query characters that both keepalived.conf (where ! # start comments, " quotes,
 * { } are blocks, $ substitutes) and mon.cf's monitor line (split on whitespace) carry verbatim.
 */
const URL_PATH_CHAR = /[A-Za-z0-9\-._~/?:@&()*+,;=%]/;

const percentHint = (ch: string) =>
  ch.charCodeAt(0) < 0x80 ? `percent-encode it: %${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}` : 'percent-encode its UTF-8 bytes';

/** Why a health.url cannot be used, or undefined. */
export function urlPathProblem(url: string): string | undefined {
  if (!url.startsWith('/')) return 'is not a URL path (must start with /)';
  for (const [i, ch] of [...url].entries()) {
    if (!URL_PATH_CHAR.test(ch)) return `is not a URL path keepalived.conf and mon.cf can carry: ${JSON.stringify(ch)} is not allowed (${percentHint(ch)})`;
    if (ch === '%' && !/^%[0-9A-Fa-f]{2}/.test(url.slice(i))) return 'is not a URL path: "%" must start a percent-encoding (% and two hex digits)';
  }
  return undefined;
}

const realServerSchema = z.strictObject(
  {
    host: z.string({ error: 'is not a host name' }).regex(HOST_NAME_RE, { error: 'is not a valid host name' }).optional(),
    address: ipv4.optional(),
    port: int(0, 65535, 'is not a port (an integer 1..65535)').optional(),
    weight: int(0, 65535, 'is not a weight (an integer 0..65535)').default(1),
  },
  { error: 'is not a mapping (host: or address:, port:, weight:)' },
);

const healthSchema = z.strictObject(
  {
    monitor: oneOf(['mon', 'keepalived', 'none'] as const),
    kind: oneOf(['http', 'tcp', 'dns'] as const),
    url: z
      .string({ error: 'is not a URL path' })
      .superRefine((v, ctx) => {
        const problem = urlPathProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .default('/'),
    query: z
      .string({ error: 'is not a DNS name' })
      .max(253, { error: 'is not a DNS name (at most 253 characters)' })
      .regex(/^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$/, {
        error: 'is not a DNS name (labels of [A-Za-z0-9_-], 1-63, separated by dots)',
      })
      .optional(),
    interval: int(1, 86400, 'is not a number of seconds (1..86400)').default(10),
    timeout: int(1, 86400, 'is not a number of seconds (1..86400)').default(5),
  },
  { error: 'is not a mapping' },
);

const serviceSchema = z.strictObject(
  {
    name: z.string({ error: 'is not a service name' }).regex(HOST_NAME_RE, { error: 'is not a valid service name ([A-Za-z0-9_.-], 1-63)' }),
    vip: serviceAddress,
    port: int(0, 65535, 'is not a port (an integer 1..65535)').optional(),
    protocol: oneOf(['tcp', 'udp', 'fwmark'] as const).default('tcp'),
    fwmark: int(1, 4294967295, 'is not a firewall mark (an integer 1..4294967295)').optional(),
    scheduler: oneOf(SCHEDULERS).default('wlc'),
    forwarding: oneOf(['nat', 'dr', 'tun'] as const),
    // 31 days: the most ipvsadm -p and keepalived's persistence_timeout accept.
    persistence: int(1, 2678400, 'is not a number of seconds (1..2678400: at most 31 days, the limit of ipvsadm and keepalived)').optional(),
    real_servers: z.array(realServerSchema, { error: 'is not a list' }).min(1, { error: 'must list at least one real server' }),
    health: healthSchema.optional(),
  },
  { error: 'is not a mapping' },
);

const cidr = z
  .string({ error: 'is not an IPv4 address with a prefix (a.b.c.d/n)' })
  .refine(
    (v) => {
      const [addr, len, ...rest] = v.split('/');
      return rest.length === 0 && isIPv4(addr) && len !== undefined && /^(3[0-2]|[12]?[0-9])$/.test(len);
    },
    { error: 'is not an IPv4 address with a prefix (a.b.c.d/n)' },
  )
  .superRefine((v, ctx) => {
    const [addr, len] = v.split('/');
    if (!isIPv4(addr)) return;
    const why = unusableAddress(addr);
    if (why) ctx.addIssue({ code: 'custom', message: unusableMessage(why) });
    else if (len === '0')
      ctx.addIssue({ code: 'custom', message: "has prefix /0, which would claim every address as on-link: give the subnet's prefix length" });
  });
const iface = z.string({ error: 'is not an interface name' }).refine((v) => IFACE_RE.test(v), { error: (iss) => ifaceMessage(iss.input) });

const haSchema = z.strictObject(
  {
    virtual_router_id: int(1, 255, 'is not a VRRP virtual router id (an integer 1..255)'),
    priorities: z
      .record(z.string(), int(1, 254, 'is not a VRRP priority (an integer 1..254)'), { error: 'is not a mapping of director name to priority' })
      .optional(),
    advert_interval: int(1, 255, 'is not a number of seconds (1..255)').default(1),
    preempt: z.boolean({ error: 'is not a boolean (true/false)' }).default(true),
    unicast: z.boolean({ error: 'is not a boolean (true/false)' }).default(false),
    interface: iface.optional(),
    nat_gateway: serviceAddress.optional(),
    floating: z.array(cidr, { error: 'is not a list of a.b.c.d/n' }).default([]),
    sync: z
      .strictObject(
        {
          enabled: z.boolean({ error: 'is not a boolean (true/false)' }).default(true),
          interface: iface.optional(),
          id: int(0, 255, 'is not a sync id (an integer 0..255)').optional(),
        },
        { error: 'is not a mapping (enabled:, interface:, id:)' },
      )
      .default({ enabled: true }),
  },
  { error: 'is not a mapping (virtual_router_id:, priorities:, advert_interval:, preempt:, unicast:, interface:, nat_gateway:, floating:, sync:)' },
);

const lvsSchema = z.strictObject(
  {
    services: z.array(serviceSchema, { error: 'is not a list' }).min(1, { error: 'must list at least one service' }),
    ha: haSchema.optional(),
  },
  { error: 'is not a mapping (expected services:)' },
);

type RawLvs = z.output<typeof lvsSchema>;
type RawService = RawLvs['services'][number];

/** Absent health: no monitoring is installed (an explicit choice is better than a silent daemon). */
const DEFAULT_HEALTH: HealthCheckSpec = { monitor: 'none', kind: 'tcp', url: '/', interval: 10, timeout: 5 };

function valueAt(root: unknown, path: readonly PropertyKey[]): { found: boolean; value: unknown } {
  let cur: unknown = root;
  for (const seg of path) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, seg)) return { found: false, value: undefined };
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return { found: true, value: cur };
}

function zodIssues(error: z.ZodError, raw: unknown): RawIssue[] {
  const out: RawIssue[] = [];
  for (const iss of error.issues) {
    const path = iss.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (iss.code === 'unrecognized_keys') {
      for (const key of iss.keys) out.push({ path: [...path, key], atKey: true, message: `unknown key "${key}"` });
      continue;
    }
    const { found, value } = valueAt(raw, path);
    if (!found) out.push({ path, message: 'is required' });
    else out.push({ path, value, message: iss.message });
  }
  return out;
}

export interface LvsContext {
  /** Merged vars of every inventory host, to resolve `host:` real servers. */
  hostVars: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  /** Hosts of group directors, in inventory order (lvs.ha's VRRP peers). */
  directors?: readonly string[];
  /** Hosts of group real_servers (the real-server play's hosts); absent: not checked. */
  realServers?: readonly string[];
}

/** Validates the raw `lvs` value; paths in the issues are relative to it. */
export function validateLvs(raw: unknown, ctx: LvsContext): { spec?: LvsSpec; issues: RawIssue[] } {
  const parsed = lvsSchema.safeParse(raw);
  if (!parsed.success) return { issues: zodIssues(parsed.error, raw) };
  const issues: RawIssue[] = [];
  const seen: Seen = { keys: new Map(), names: new Map() };
  const services = parsed.data.services.map((svc, i) => checkService(svc, i, ctx, issues, seen));
  const ha = parsed.data.ha ? checkHa(parsed.data.ha, services, ctx, issues) : undefined;
  checkOneForwarding(parsed.data.services, ctx, issues);
  if (!parsed.data.ha) checkNatGateway(parsed.data.services, ctx, issues);
  return issues.length ? { issues } : { spec: { services, ...(ha ? { ha } : {}) }, issues };
}

/** Default VRRP priorities by order in group directors: 150, 140, ... (the first is the preferred master). */
export const defaultPriority = (index: number) => Math.max(1, 150 - 10 * index);

function checkHa(raw: NonNullable<RawLvs['ha']>, services: VirtualServiceSpec[], ctx: LvsContext, issues: RawIssue[]): HaSpec {
  const directors = ctx.directors ?? [];
  if (directors.length < 2) {
    issues.push({
      path: ['ha'],
      atKey: true,
      message: `needs two or more hosts in group directors (found ${directors.length}): a backup director is what it configures`,
    });
  }
  const priorities: Record<string, number> = {};
  directors.forEach((d, i) => {
    priorities[d] = defaultPriority(i);
  });
  for (const [name, prio] of Object.entries(raw.priorities ?? {})) {
    if (!directors.includes(name)) issues.push({ path: ['ha', 'priorities', name], atKey: true, value: name, message: 'is not a host of group directors' });
    else priorities[name] = prio;
  }
  const byPrio = new Map<number, string>();
  for (const d of directors) {
    const other = byPrio.get(priorities[d]!);
    // Equal priorities elect by the higher address: legal, but no operator means it.
    if (other !== undefined)
      issues.push({ path: ['ha', 'priorities'], message: `gives ${other} and ${d} the same priority ${priorities[d]}: set distinct priorities` });
    byPrio.set(priorities[d]!, d);
  }
  if (raw.unicast) {
    for (const d of directors) {
      if (!isIPv4(ctx.hostVars.get(d)?.dip))
        issues.push({ path: ['ha', 'unicast'], value: true, message: `needs every director's dip (the peers' addresses): ${d} has none` });
    }
  }
  const nat = services.some((s) => s.forwarding === 'nat');
  if (nat && raw.nat_gateway === undefined) {
    issues.push({
      path: ['ha'],
      atKey: true,
      message: "needs nat_gateway: a NAT service's real servers route through the director, so their gateway must follow the master (a floating address)",
    });
  }
  if (!nat && raw.nat_gateway !== undefined) {
    issues.push({ path: ['ha', 'nat_gateway'], value: raw.nat_gateway, message: 'is only for NAT services (no service has forwarding: nat)' });
  }
  return {
    virtualRouterId: raw.virtual_router_id,
    priorities,
    advertInterval: raw.advert_interval,
    preempt: raw.preempt,
    unicast: raw.unicast,
    ...(raw.interface !== undefined ? { interface: raw.interface } : {}),
    ...(raw.nat_gateway !== undefined ? { natGateway: raw.nat_gateway } : {}),
    floating: raw.floating,
    sync: {
      enabled: raw.sync.enabled,
      ...(raw.sync.interface !== undefined ? { interface: raw.sync.interface } : {}),
      id: raw.sync.id ?? raw.virtual_router_id,
    },
  };
}

/** Services seen so far: identity key / name -> index. */
interface Seen {
  keys: Map<string, number>;
  names: Map<string, number>;
}

function checkService(svc: RawService, index: number, ctx: LvsContext, issues: RawIssue[], seen: Seen): VirtualServiceSpec {
  const at: DataPath = ['services', index];
  const fwmark = svc.protocol === 'fwmark';
  let port = svc.port ?? (fwmark ? 0 : undefined);
  if (fwmark) {
    if (svc.fwmark === undefined) issues.push({ path: [...at, 'protocol'], value: svc.protocol, message: 'needs a fwmark: N (the firewall mark)' });
    if (port !== 0) issues.push({ path: [...at, 'port'], value: port, message: 'must be 0 (or absent) for a fwmark service' });
  } else {
    if (svc.fwmark !== undefined) issues.push({ path: [...at, 'fwmark'], value: svc.fwmark, message: 'is only valid with protocol: fwmark' });
    if (port === undefined) issues.push({ path: [...at, 'port'], message: 'is required' });
    else if (port === 0) issues.push({ path: [...at, 'port'], value: 0, message: 'is not a port (port 0 is only for protocol: fwmark)' });
  }
  port ??= 0;

  const prevName = seen.names.get(svc.name);
  if (prevName !== undefined) issues.push({ path: [...at, 'name'], value: svc.name, message: `is already the name of services[${prevName}]` });
  else seen.names.set(svc.name, index);

  // ipvsadm identifies a virtual service by vip:port/protocol, or by its firewall mark.
  const key = fwmark ? `fwmark ${svc.fwmark}` : `${svc.vip}:${port}/${svc.protocol}`;
  const prev = seen.keys.get(key);
  if (prev === undefined) seen.keys.set(key, index);
  else {
    issues.push(
      fwmark
        ? { path: [...at, 'fwmark'], value: svc.fwmark, message: `duplicates services[${prev}] (the same firewall mark)` }
        : { path: [...at, 'vip'], value: svc.vip, message: `duplicates services[${prev}] (the same ${svc.vip}:${port}/${svc.protocol})` },
    );
  }

  const realServers: RealServerSpec[] = [];
  const seenRs = new Map<string, number>();
  svc.real_servers.forEach((rs, j) => {
    const rsAt: DataPath = [...at, 'real_servers', j];
    const address = resolveAddress(rs, rsAt, ctx, issues);
    const rsPort = rs.port ?? port;
    if (rs.port !== undefined && !fwmark && rs.port === 0) {
      issues.push({ path: [...rsAt, 'port'], value: 0, message: 'is not a port (an integer 1..65535)' });
    }
    if (svc.forwarding !== 'nat' && rsPort !== port) {
      issues.push({
        path: [...rsAt, 'port'],
        value: rsPort,
        message: `must equal the service port ${port}: ${svc.forwarding.toUpperCase()} cannot change the destination port (only nat can)`,
      });
    }
    if (address === undefined) return;
    const rsKey = `${address}:${rsPort}`;
    const dup = seenRs.get(rsKey);
    if (dup !== undefined) {
      const field = rs.host !== undefined ? 'host' : 'address';
      issues.push({ path: [...rsAt, field], value: rs[field], message: `duplicates real_servers[${dup}] (the same ${rsKey})` });
    } else seenRs.set(rsKey, j);
    realServers.push({ ...(rs.host !== undefined ? { host: rs.host } : {}), address, port: rsPort, weight: rs.weight });
  });

  const health: HealthCheckSpec = svc.health ? { ...svc.health } : { ...DEFAULT_HEALTH };
  if (svc.health && health.timeout >= health.interval) {
    issues.push({ path: [...at, 'health', 'timeout'], value: health.timeout, message: `must be less than the interval (${health.interval})` });
  }
  checkKeepalivedLimits(health, at, issues);
  if (fwmark) {
    // IPVS only sees a fwmark service's packets once a rule marks them; without one the VIP's
    // traffic is never balanced (and verify could not tell which ports to probe).
    issues.push({
      path: [...at, 'protocol'],
      value: 'fwmark',
      message:
        'is refused: provision does not write the packet-marking rules (iptables/nft MARK on the directors) a fwmark service needs, so its traffic would never reach IPVS; declare one tcp or udp service per port instead',
    });
  }
  checkProbe(svc, health, at, issues);
  // Each monitor handles what its checks can name; anything else would leave the service unwatched.
  if (health.monitor === 'mon' && fwmark) {
    issues.push({ path: [...at, 'health', 'monitor'], value: 'mon', message: 'cannot watch a fwmark service (lvs.alert names a VIP:port): use monitor none' });
  }
  if (health.monitor === 'mon' && svc.protocol === 'udp') {
    issues.push({
      path: [...at, 'health', 'monitor'],
      value: 'mon',
      message:
        "cannot watch a udp service here: mon's DNS monitors need Perl's Net::DNS (not on every target, not installed by provision) and ask port 53 only; use monitor keepalived (its DNS_CHECK) or none",
    });
  }
  if (health.monitor === 'keepalived' && fwmark) {
    issues.push({
      path: [...at, 'health', 'monitor'],
      value: 'keepalived',
      message: 'checks tcp (HTTP GET, TCP connect) and udp (DNS) services here: a fwmark service needs monitor none',
    });
  }

  return {
    name: svc.name,
    vip: svc.vip,
    port,
    protocol: svc.protocol,
    ...(svc.fwmark !== undefined ? { fwmark: svc.fwmark } : {}),
    scheduler: svc.scheduler,
    forwarding: svc.forwarding,
    ...(svc.persistence !== undefined ? { persistence: svc.persistence } : {}),
    realServers,
    health,
  };
}

/** keepalived's connect_timeout range is [0.000001, 4294.967295] s (a 32-bit count of microseconds). */
export const KEEPALIVED_MAX_TIMEOUT = 4294;

/** What keepalived (Debian 12's 2.2.7) refuses in a check it would otherwise ignore: the service unwatched. */
function checkKeepalivedLimits(health: HealthCheckSpec, at: DataPath, issues: RawIssue[]) {
  if (health.monitor !== 'keepalived') return;
  if (health.timeout > KEEPALIVED_MAX_TIMEOUT) {
    issues.push({
      path: [...at, 'health', 'timeout'],
      value: health.timeout,
      message: `is more than keepalived accepts as connect_timeout (at most ${KEEPALIVED_MAX_TIMEOUT} seconds)`,
    });
  }
  const first = health.kind === 'dns' ? /^([^.])\./.exec(health.query ?? '') : null;
  if (first) {
    issues.push({
      path: [...at, 'health', 'query'],
      value: health.query,
      message: `starts with the one-character label "${first[1]}", which keepalived 2.2.7 (Debian 12) rejects in a DNS_CHECK name ("has empty label"): query a name whose first label is longer`,
    });
  }
}

/**
 * How a service is probed (by its monitor and by `verify`) must match its protocol: HTTP or a TCP
 * connect for tcp, a DNS query for udp (a TCP check of a UDP service fails on every real server).
 */
function checkProbe(svc: RawService, health: HealthCheckSpec, at: DataPath, issues: RawIssue[]) {
  if (svc.protocol === 'udp' && !svc.health) {
    issues.push({
      path: [...at, 'protocol'],
      value: 'udp',
      message: 'needs health: {kind: dns, query: NAME} (a udp service is probed with that DNS query, by its monitor and by verify)',
    });
    return;
  }
  if (!svc.health) return;
  if (svc.protocol === 'udp' && health.kind !== 'dns') {
    issues.push({
      path: [...at, 'health', 'kind'],
      value: health.kind,
      message: 'cannot probe a udp service (HTTP and TCP connect need tcp): use kind: dns with query: NAME',
    });
  }
  if (svc.protocol === 'tcp' && health.kind === 'dns') {
    issues.push({ path: [...at, 'health', 'kind'], value: 'dns', message: 'is a DNS query over UDP: only for protocol: udp (use http or tcp)' });
  }
  if (health.kind === 'dns' && health.query === undefined) {
    issues.push({ path: [...at, 'health', 'kind'], value: 'dns', message: 'needs query: NAME (the DNS name asked for, type A)' });
  }
  if (health.kind !== 'dns' && health.query !== undefined) {
    issues.push({ path: [...at, 'health', 'query'], value: health.query, message: 'is only for kind: dns' });
  }
}

/** The inventory host a real server entry configures: its host:, else the real_servers host whose rip it names. */
function managedHost(rs: RawService['real_servers'][number], ctx: LvsContext): string | undefined {
  if (rs.host !== undefined) return ctx.hostVars.has(rs.host) ? rs.host : undefined;
  if (rs.address === undefined) return undefined;
  for (const [name, vars] of ctx.hostVars) {
    if (vars.rip === rs.address && (ctx.realServers?.includes(name) ?? true)) return name;
  }
  return undefined;
}

/**
 * One forwarding method per managed real server: DR puts the VIP on lo, TUN on tunl0, NAT routes
 * through the director; the real-server play can set up only one of them (forwardingOf).
 */
function checkOneForwarding(services: RawService[], ctx: LvsContext, issues: RawIssue[]): void {
  const first = new Map<string, { index: number; forwarding: string }>();
  services.forEach((svc, i) =>
    svc.real_servers.forEach((rs, j) => {
      const host = managedHost(rs, ctx);
      if (host === undefined) return;
      const prev = first.get(host);
      if (!prev) first.set(host, { index: i, forwarding: svc.forwarding });
      else if (prev.forwarding !== svc.forwarding) {
        const field = rs.host !== undefined ? 'host' : 'address';
        issues.push({
          path: ['services', i, 'real_servers', j, field],
          value: rs[field],
          message: `is host ${host}, already a real server of services[${prev.index}] with forwarding ${prev.forwarding}: a real server takes one forwarding method (DR puts the VIP on lo, TUN on tunl0, NAT routes through the director), not ${svc.forwarding} too`,
        });
      }
    }),
  );
}

/**
 * NAT without lvs.ha: a managed real server's default gateway is its nat_gateway, else a director's
 * dip (realserver.ts natGateway). Without either its replies would bypass the un-NAT.
 */
function checkNatGateway(services: RawService[], ctx: LvsContext, issues: RawIssue[]): void {
  const directorDip = (ctx.directors ?? []).some((d) => typeof ctx.hostVars.get(d)?.dip === 'string');
  if (directorDip) return;
  services.forEach((svc, i) => {
    if (svc.forwarding !== 'nat') return;
    const hosts = svc.real_servers.map((rs) => managedHost(rs, ctx)).filter((h): h is string => h !== undefined);
    const stranded = [...new Set(hosts)].filter((h) => typeof ctx.hostVars.get(h)?.nat_gateway !== 'string');
    if (stranded.length === 0) return;
    issues.push({
      path: ['services', i, 'forwarding'],
      value: 'nat',
      message: `needs the director's dip as the real servers' gateway, and no host of group directors has dip: set dip: on the director (or nat_gateway: on ${stranded.join(', ')})`,
    });
  });
}

/** A real server's address: explicit, or its inventory host's `rip`. */
function resolveAddress(rs: RawService['real_servers'][number], at: DataPath, ctx: LvsContext, issues: RawIssue[]): string | undefined {
  if (rs.host === undefined) {
    if (rs.address === undefined) issues.push({ path: at, message: 'needs host: (an inventory host) or address: (an IPv4 address)' });
    return rs.address;
  }
  const vars = ctx.hostVars.get(rs.host);
  if (!vars) {
    issues.push({ path: [...at, 'host'], value: rs.host, message: 'is not a host of this inventory' });
    return rs.address;
  }
  if (ctx.realServers && !ctx.realServers.includes(rs.host)) {
    // The real-server play selects group real_servers: this host would never get its VIP or ARP setup.
    issues.push({
      path: [...at, 'host'],
      value: rs.host,
      message:
        'is not in group real_servers, so the real-server play would never configure it: add it to that group (a real server provision does not manage is given by address: only)',
    });
  }
  const rip = vars.rip;
  if (rs.address !== undefined) {
    if (isIPv4(rip) && rip !== rs.address) {
      issues.push({ path: [...at, 'address'], value: rs.address, message: `differs from host ${rs.host}'s rip ${rip}` });
    }
    return rs.address;
  }
  if (rip === undefined) {
    issues.push({ path: [...at, 'host'], value: rs.host, message: 'has no rip var (set rip: on the host, or give address: here)' });
    return undefined;
  }
  // An invalid rip is reported where it is defined.
  return isIPv4(rip) ? rip : undefined;
}
