// What the health monitor itself says about each real server, read in the same round trip as the
// IPVS table. mon: its own client (`moncmd list opstatus`, served on 127.0.0.1:2583 by mon.cf's
// serverbind; auth.cf allows `list`). The table alone cannot tell "removed by the monitor because
// it is down" from "deleted by hand", so this is what separates health (status) from drift.
import type { LvsSpec } from './types.js';
import { monWatches } from './model.js';
import { type Script, sh } from '../core/shell.js';
import { EXIT, ProvisionError } from '../core/provision-error.js';

/** mon's _op_status values (mon 1.2/1.3: $STAT_FAIL .. $STAT_WARN = 0..9). */
const MON_STATUS = ['fail', 'ok', 'coldstart', 'warmstart', 'linkdown', 'unknown', 'timeout', 'untested', 'depend', 'warn'] as const;

export interface MonOpstatus {
  group: string;
  service: string;
  /** mon's opstatus name ("ok", "fail", "untested", ...). */
  status: string;
  /** Unix seconds of the first failure of the current outage (mon's first_failure), when failing. */
  firstFailure?: number;
  lastCheck?: number;
  lastSuccess?: number;
  summary: string;
}

/** mon's esc_str: every byte <= 32, > 126 and quotes become \xx (hex); a backslash in quotes doubles. */
function unescapeMon(s: string): string {
  return s.replace(/\\([0-9a-fA-F]{2}|\\)/g, (_, h: string) => (h === '\\' ? '\\' : String.fromCharCode(parseInt(h, 16))));
}

/** One `list opstatus` line: space-separated key=value pairs, values escaped (never contain spaces). */
function vars(line: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const tok of line.trim().split(/\s+/)) {
    const eq = tok.indexOf('=');
    if (eq > 0) m.set(tok.slice(0, eq), unescapeMon(tok.slice(eq + 1)));
  }
  return m;
}

const num = (v: string | undefined) => (v && /^\d+$/.test(v) && v !== '0' ? Number(v) : undefined);

/** mon gave no usable answer: its health state is unknown (a host-side condition, not a bug). */
export class MonStateError extends ProvisionError {
  readonly exitCode = EXIT.failed;
  constructor(why: string) {
    super(`mon status: ${why}`);
  }
}

/**
 * Parses what `moncmd list opstatus` prints: one line per (group, service), then
 * "220 list opstatus completed". Anything else (connection refused, "520 ..." when auth.cf does not
 * allow `list`) throws: no answer from mon means its state is unknown, never "all healthy".
 */
export function parseMonOpstatus(text: string): MonOpstatus[] {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (!lines.some((l) => /^220 /.test(l))) throw new MonStateError(lines.slice(-2).join(' / ') || 'no answer');
  const out: MonOpstatus[] = [];
  for (const line of lines) {
    if (!line.startsWith('group=')) continue;
    const v = vars(line);
    const code = Number(v.get('opstatus'));
    out.push({
      group: v.get('group') ?? '',
      service: v.get('service') ?? '',
      status: MON_STATUS[code] ?? `opstatus ${v.get('opstatus')}`,
      firstFailure: num(v.get('first_failure')),
      lastCheck: num(v.get('last_check')),
      lastSuccess: num(v.get('last_success')),
      summary: v.get('last_summary') ?? '',
    });
  }
  return out;
}

export type Health = 'up' | 'down' | 'unknown';

export interface MemberHealth {
  /** Which monitor answered ("mon"), or "none" when the service has no monitor. */
  monitor: 'mon' | 'keepalived' | 'none';
  health: Health;
  /** ISO time the outage began (down), when the monitor knows it. */
  since?: string;
  detail: string;
}

/** "-t VIP:PORT" + " " + "RIP:PORT": one member of one IPVS service. */
export const memberKey = (serviceKey: string, dest: string) => `${serviceKey} ${dest}`;

/**
 * Health per member of every mon-watched service, keyed by memberKey(). A member whose watch mon
 * does not report (mon not running, or an older mon.cf) is "unknown": treated like no monitor.
 */
export function monHealth(lvs: LvsSpec, opstatus: MonOpstatus[] | Error): Map<string, MemberHealth> {
  const byGroup = new Map(Array.isArray(opstatus) ? opstatus.map((o) => [o.group, o]) : []);
  const out = new Map<string, MemberHealth>();
  for (const w of monWatches(lvs)) {
    const svcKey = `${w.protocol === 'udp' ? '-u' : '-t'} ${w.vip}:${w.vport}`;
    const key = memberKey(svcKey, `${w.address}:${w.port}`);
    const o = byGroup.get(w.group);
    if (!o || o.service !== w.checkName) {
      out.set(key, { monitor: 'mon', health: 'unknown', detail: opstatus instanceof Error ? opstatus.message : `mon reports no watch ${w.group}` });
      continue;
    }
    // fail/timeout: the check failed; lvs.alert has taken the member out. untested: not checked yet.
    const down = o.status === 'fail' || o.status === 'timeout';
    const up = o.status === 'ok' || o.status === 'warn';
    out.set(key, {
      monitor: 'mon',
      health: down ? 'down' : up ? 'up' : 'unknown',
      ...(down && o.firstFailure ? { since: new Date(o.firstFailure * 1000).toISOString() } : {}),
      detail: `mon ${w.group}/${o.service}: ${o.status}${o.summary ? ` (${o.summary})` : ''}`,
    });
  }
  return out;
}

/** Shell that prints mon's opstatus after `marker`; prints nothing more when mon is not installed. */
export function monProbeScript(marker: string): Script {
  return sh`echo ${marker}
# A wedged mon must not hang the probe: 10 s, where coreutils' timeout exists.
if ! command -v moncmd >/dev/null 2>&1; then echo 'moncmd not installed'
elif command -v timeout >/dev/null 2>&1; then timeout 10 moncmd -s 127.0.0.1 list opstatus 2>&1 || true
else moncmd -s 127.0.0.1 list opstatus 2>&1 || true; fi`;
}
