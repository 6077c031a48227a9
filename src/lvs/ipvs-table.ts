// The IPVS table as data: parse `ipvsadm-save -n`, build the desired table from the
// inventory, and diff the two into the minimal ipvsadm commands (-A/-E/-D/-a/-e/-d; never -C).
import type { Forwarding, LvsSpec, VirtualServiceSpec } from './types.js';
import { EXIT, ProvisionError } from '../core/provision-error.js';

export type IpvsProto = 'tcp' | 'udp' | 'sctp' | 'fwmark';
export type IpvsMethod = 'g' | 'i' | 'm';

export interface IpvsDest {
  /** "ip:port" */
  address: string;
  method: IpvsMethod;
  weight: number;
  /** Upper/lower connection thresholds (-x/-y), 0 = unset. */
  upper: number;
  lower: number;
}

export interface IpvsService {
  proto: IpvsProto;
  /** "vip:port" for tcp/udp/sctp, the mark for fwmark. */
  address: string;
  scheduler: string;
  /** Persistence timeout in seconds; absent = not persistent. */
  persistent?: number;
  netmask?: string;
  /** Remaining service options verbatim (-b, --pe, -o), compared as text. */
  extra: string;
  dests: IpvsDest[];
}

export type IpvsTable = IpvsService[];

const PROTO_FLAG: Record<IpvsProto, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service', fwmark: '-f' };
const FLAG_PROTO: Record<string, IpvsProto> = { '-t': 'tcp', '-u': 'udp', '--sctp-service': 'sctp', '-f': 'fwmark' };
export const METHOD_OF: Record<Forwarding, IpvsMethod> = { dr: 'g', tun: 'i', nat: 'm' };

export class IpvsParseError extends ProvisionError {
  readonly exitCode = EXIT.failed;
  constructor(
    readonly lineNo: number,
    readonly line: string,
    why: string,
  ) {
    super(`ipvsadm-save line ${lineNo}: ${why}: ${line}`);
  }
}

export const serviceKey = (s: Pick<IpvsService, 'proto' | 'address'>) => `${PROTO_FLAG[s.proto]} ${s.address}`;

/** Parses the output of `ipvsadm-save -n` (any version 1.2x..1.31). */
export function parseIpvsSave(text: string): IpvsTable {
  const services = new Map<string, IpvsService>();
  text.split('\n').forEach((raw, idx) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const tok = line.split(/\s+/);
    const op = tok[0];
    const proto = FLAG_PROTO[tok[1] ?? ''];
    const address = tok[2];
    if ((op !== '-A' && op !== '-a') || !proto || !address) throw new IpvsParseError(idx + 1, line, 'unrecognised rule');
    const key = serviceKey({ proto, address });
    if (op === '-A') {
      const svc: IpvsService = { proto, address, scheduler: 'wlc', extra: '', dests: [] };
      const extra: string[] = [];
      for (let i = 3; i < tok.length; i++) {
        const t = tok[i]!;
        if (t === '-s') svc.scheduler = tok[++i] ?? 'wlc';
        else if (t === '-p') {
          const n = Number(tok[i + 1]);
          if (Number.isInteger(n)) {
            svc.persistent = n;
            i++;
          } else svc.persistent = 300;
        } else if (t === '-M') svc.netmask = tok[++i];
        else if (t === '-6') extra.push(t);
        else if (t === '-b' || t === '--pe') extra.push(t, tok[++i] ?? '');
        else extra.push(t);
      }
      svc.extra = extra.join(' ');
      services.set(key, svc);
      return;
    }
    const svc = services.get(key);
    if (!svc) throw new IpvsParseError(idx + 1, line, 'real server before its service');
    const dest: IpvsDest = { address: '', method: 'g', weight: 1, upper: 0, lower: 0 };
    for (let i = 3; i < tok.length; i++) {
      const t = tok[i]!;
      if (t === '-r') dest.address = tok[++i] ?? '';
      else if (t === '-g' || t === '-i' || t === '-m') dest.method = t.slice(1) as IpvsMethod;
      else if (t === '-w') dest.weight = Number(tok[++i]);
      else if (t === '-x') dest.upper = Number(tok[++i]);
      else if (t === '-y') dest.lower = Number(tok[++i]);
      else if (t === '--tun-type' || t === '--tun-port' || t === '--tun-nocsum' || t === '--tun-csum' || t === '--tun-remcsum') {
        // 1.31 prints tunnel details; older ipvsadm rejects them, so they are not part of the comparison.
        if (t === '--tun-type' || t === '--tun-port') i++;
      } else throw new IpvsParseError(idx + 1, line, `unknown option ${t}`);
    }
    if (!dest.address) throw new IpvsParseError(idx + 1, line, 'real server without -r');
    svc.dests.push(dest);
  });
  return [...services.values()];
}

/** The table the inventory asks for. Real server addresses come already resolved (host -> rip). */
export function desiredTable(lvs: LvsSpec): IpvsTable {
  return lvs.services.map((s) => desiredService(s));
}

function desiredService(s: VirtualServiceSpec): IpvsService {
  const proto: IpvsProto = s.protocol;
  return {
    proto,
    address: proto === 'fwmark' ? String(s.fwmark) : `${s.vip}:${s.port}`,
    scheduler: s.scheduler,
    persistent: s.persistence,
    extra: '',
    dests: s.realServers.map((r) => ({
      address: `${r.address}:${r.port}`,
      method: METHOD_OF[s.forwarding],
      weight: r.weight,
      upper: 0,
      lower: 0,
    })),
  };
}

function serviceOpts(s: IpvsService): string[] {
  const o = ['-s', s.scheduler];
  if (s.persistent !== undefined) o.push('-p', String(s.persistent));
  if (s.netmask && s.persistent !== undefined) o.push('-M', s.netmask);
  if (s.extra) o.push(...s.extra.split(' '));
  return o;
}

function destOpts(d: IpvsDest): string[] {
  const o = ['-r', d.address, `-${d.method}`, '-w', String(d.weight)];
  if (d.upper) o.push('-x', String(d.upper));
  if (d.lower) o.push('-y', String(d.lower));
  return o;
}

const svcArgs = (s: IpvsService) => [PROTO_FLAG[s.proto], s.address];

/** The table in `ipvsadm-save -n` form (what /etc/ipvsadm.rules and /etc/sysconfig/ipvsadm hold). */
export function renderIpvsSave(table: IpvsTable): string {
  const lines: string[] = [];
  for (const s of table) {
    lines.push(['-A', ...svcArgs(s), ...serviceOpts(s)].join(' '));
    for (const d of s.dests) lines.push(['-a', ...svcArgs(s), ...destOpts(d)].join(' '));
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Canonical text of a table, order-independent, for equality checks. */
export function canonicalIpvs(table: IpvsTable): string {
  return renderIpvsSave(table).split('\n').filter(Boolean).sort().join('\n');
}

export interface IpvsCommand {
  /** Arguments after `ipvsadm`. */
  args: string[];
  /** One line for humans. */
  why: string;
}

/** Minimal commands turning `current` into `desired`. Deletions first so re-added addresses never collide. */
export function diffIpvs(current: IpvsTable, desired: IpvsTable): IpvsCommand[] {
  const cur = new Map(current.map((s) => [serviceKey(s), s]));
  const want = new Map(desired.map((s) => [serviceKey(s), s]));
  const dels: IpvsCommand[] = [];
  const adds: IpvsCommand[] = [];
  for (const [key, s] of cur) {
    if (!want.has(key)) dels.push({ args: ['-D', ...svcArgs(s)], why: `remove service ${key}` });
  }
  for (const [key, w] of want) {
    const c = cur.get(key);
    if (!c) {
      adds.push({ args: ['-A', ...svcArgs(w), ...serviceOpts(w)], why: `add service ${key} (${w.scheduler})` });
      for (const d of w.dests) adds.push({ args: ['-a', ...svcArgs(w), ...destOpts(d)], why: `add real server ${d.address} to ${key}` });
      continue;
    }
    if (serviceOpts(c).join(' ') !== serviceOpts(w).join(' ')) {
      adds.push({ args: ['-E', ...svcArgs(w), ...serviceOpts(w)], why: `edit service ${key}: ${serviceOpts(c).join(' ')} -> ${serviceOpts(w).join(' ')}` });
    }
    const cd = new Map(c.dests.map((d) => [d.address, d]));
    const wd = new Map(w.dests.map((d) => [d.address, d]));
    for (const [addr] of cd) {
      if (!wd.has(addr)) dels.push({ args: ['-d', ...svcArgs(c), '-r', addr], why: `remove real server ${addr} from ${key}` });
    }
    for (const [addr, d] of wd) {
      const old = cd.get(addr);
      if (!old) adds.push({ args: ['-a', ...svcArgs(w), ...destOpts(d)], why: `add real server ${addr} to ${key}` });
      else if (destOpts(old).join(' ') !== destOpts(d).join(' ')) {
        adds.push({
          args: ['-e', ...svcArgs(w), ...destOpts(d)],
          why: `edit real server ${addr} of ${key}: ${destOpts(old).slice(2).join(' ')} -> ${destOpts(d).slice(2).join(' ')}`,
        });
      }
    }
  }
  return [...dels, ...adds];
}
