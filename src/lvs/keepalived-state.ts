// What keepalived's checkers say about each real server of the services it owns, read in the same
// round trip as the IPVS table (like mon's opstatus in monitor-state.ts). keepalived 2.x has no
// query client, so two of its own outputs are read:
// - the checker process's data dump: on SIGUSR1 (`keepalived --signum=DATA`) it writes
//   $TMPDIR/keepalived_check.data (default /tmp), every virtual_server and real_server with
//   `alive = 0|1` (check_data.c dump_rs). The current verdict, authoritative; it carries no times.
// - its log lines "Removing service [RIP]:tcp:PORT from VS [VIP]:tcp:PORT" (ipwrapper.c), from the
//   journal of the running checker process only (_PID): when the current outage began ("since").
// A member keepalived removed is "out of service: health check failing", not drift; one it reports
// alive while missing from the table is drift. No answer is "unknown", never "healthy".
import type { LvsSpec } from './types.js';
import { type Script, sh } from '../core/shell.js';
import { EXIT, ProvisionError } from '../core/provision-error.js';
import { memberKey, type MemberHealth } from './monitor-state.js';
import { ownedByKeepalived } from './model.js';
import { desiredTable, serviceKey } from './ipvs-table.js';

/** Where keepalived 2.2 writes its pid files and the checker dump (Debian, Red Hat: no --pid-dir, TMPDIR unset). */
export const KEEPALIVED_PATHS = {
  checkerPidFiles: ['/run/keepalived/checkers.pid', '/run/checkers.pid', '/var/run/checkers.pid'],
  dump: '/tmp/keepalived_check.data',
};

const NO_CHECKER = '#keepalived-no-checker';
const DUMP = '#keepalived-dump';
const DUMP_TIMEOUT = '#keepalived-dump-timeout';
const LOG = '#keepalived-log';

/** One real server as keepalived's checker process sees it. */
export interface KeepalivedMember {
  /** serviceKey() form: "-t VIP:PORT", "-u VIP:PORT", "-f MARK". */
  service: string;
  /** "RIP:PORT" */
  dest: string;
  alive: boolean;
  weight: number;
  failedCheckers: number;
}

/** A "Removing/Adding service ... VS ..." log line: a checker's verdict changing, with its time. */
export interface KeepalivedEvent {
  /** Unix seconds (journalctl -o short-unix). */
  at: number;
  service: string;
  dest: string;
  up: boolean;
}

export interface KeepalivedState {
  members: KeepalivedMember[];
  events: KeepalivedEvent[];
}

/** keepalived gave no usable answer: its health state is unknown (a host-side condition, not a bug). */
export class KeepalivedStateError extends ProvisionError {
  readonly exitCode = EXIT.failed;
  constructor(why: string) {
    super(`keepalived status: ${why}`);
  }
}

/**
 * Shell that prints keepalived's checker state after `marker`: the dump it writes when its checker
 * process gets the DATA signal (sent to that process only), then the add/remove lines that process
 * logged. The dump is written asynchronously: it is complete once the file exists and the checker
 * no longer holds it open; bounded (about 5 s), like the journal read (timeout 10).
 */
export function keepalivedProbeScript(marker: string, paths = KEEPALIVED_PATHS): Script {
  return sh`echo ${marker}
pid=
for f in ${paths.checkerPidFiles}; do
  if [ -s "$f" ]; then pid=$(cat "$f"); break; fi
done
case "$pid" in ''|*[!0-9]*) pid= ;; esac
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then echo ${NO_CHECKER}
else
  dump=${paths.dump}
  rm -f "$dump"
  sig=$(keepalived --signum=DATA 2>/dev/null)
  case "$sig" in ''|*[!0-9]*) sig=USR1 ;; esac
  kill -"$sig" "$pid"
  n=0
  while :; do
    if [ -s "$dump" ] && ! ls -l "/proc/$pid/fd" 2>/dev/null | grep -q -F "$dump"; then echo ${DUMP}; cat "$dump"; break; fi
    n=$((n + 1))
    if [ "$n" -gt 50 ]; then echo ${DUMP_TIMEOUT}; break; fi
    sleep 0.1 2>/dev/null || sleep 1
  done
  echo ${LOG}
  if command -v journalctl >/dev/null 2>&1; then
    if command -v timeout >/dev/null 2>&1; then t='timeout 10'; else t=; fi
    $t journalctl _PID="$pid" -o short-unix --no-pager -n 5000 2>/dev/null | grep -E ' (Removing|Adding|Disabling|Enabling) (\\(inhibited\\) )?service ' | tail -n 200
  fi
fi
true`;
}

const PROTO_FLAG: Record<string, string> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service', tcp: '-t', udp: '-u', sctp: '--sctp-service' };

/** keepalived's "[ADDR]:proto:PORT" (inet_sockaddrtotrio) -> serviceKey()'s flag and "ADDR:PORT". */
function trio(s: string): { flag: string; addr: string } | undefined {
  const m = /^\[([^\]]+)\]:(tcp|udp|sctp|none|\?):(\d+)$/.exec(s);
  if (!m) return undefined;
  return { flag: PROTO_FLAG[m[2]!] ?? '-t', addr: `${m[1]}:${m[3]}` };
}

/** Parses keepalived 2.x's checker dump (dump_data_check): virtual servers and their real servers' alive flags. */
export function parseKeepalivedDump(text: string): KeepalivedMember[] {
  const out: KeepalivedMember[] = [];
  let vs: { addr: string; flag: string } | undefined;
  let rs: KeepalivedMember | undefined;
  const flush = () => {
    if (rs?.dest) out.push(rs);
    rs = undefined;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m: RegExpExecArray | null;
    if (line.startsWith('------<')) {
      // Every section header ends the real server before it; the checkers queue and track files follow the topology.
      flush();
      if (line === '------< Virtual server >------') vs = undefined;
      else if (line === '------< Real server >------' && vs) rs = { service: `${vs.flag} ${vs.addr}`, dest: '', alive: false, weight: 0, failedCheckers: 0 };
      else if (line !== '------< Real server >------') vs = undefined;
      continue;
    }
    if ((m = /^VS VIP = (\S+), VPORT = (\d+)$/.exec(line))) vs = { addr: `${m[1]}:${m[2]}`, flag: '-t' };
    else if ((m = /^VS FWMARK = (\d+)$/.exec(line))) vs = { addr: m[1]!, flag: '-f' };
    else if (vs && !rs && vs.flag !== '-f' && (m = /^protocol = (TCP|UDP|SCTP)$/.exec(line))) vs.flag = PROTO_FLAG[m[1]!]!;
    else if (rs && (m = /^RIP = (\S+), RPORT = (\d+), WEIGHT = (-?\d+)/.exec(line))) {
      rs.dest = `${m[1]}:${m[2]}`;
      rs.weight = Number(m[3]);
    } else if (rs && (m = /^alive = (\d+)$/.exec(line))) rs.alive = m[1] !== '0';
    else if (rs && (m = /^num failed checkers = (\d+)$/.exec(line))) rs.failedCheckers = Number(m[1]);
  }
  flush();
  // The protocol line comes after the VS line: members recorded before it was seen keep the VS's final flag.
  return out;
}

/** Parses `journalctl -o short-unix` lines of keepalived's "Removing service X from VS Y" family. */
export function parseKeepalivedLog(text: string): KeepalivedEvent[] {
  const out: KeepalivedEvent[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+(?:\.\d+)?) .*? (Removing|Adding|Disabling|Enabling) (?:\(inhibited\) )?service (\S+) (?:from|to|of) VS (.+)$/.exec(line.trim());
    if (!m) continue;
    const rs = trio(m[3]!);
    const vsText = m[4]!.trim();
    const fwm = /^FWM (\d+)$/.exec(vsText);
    const vs = fwm ? { flag: '-f', addr: fwm[1]! } : trio(vsText);
    if (!rs || !vs) continue;
    out.push({ at: Number(m[1]), service: `${vs.flag} ${vs.addr}`, dest: rs.addr, up: m[2] === 'Adding' || m[2] === 'Enabling' });
  }
  return out;
}

/** The probe's output (after its marker): the checker state, or why there is none (throws KeepalivedStateError). */
export function parseKeepalivedState(text: string): KeepalivedState {
  const [before = '', logPart = ''] = text.split(`${LOG}\n`);
  if (before.includes(NO_CHECKER)) throw new KeepalivedStateError('no keepalived checker process is running');
  if (before.includes(DUMP_TIMEOUT)) throw new KeepalivedStateError(`the checker wrote no ${KEEPALIVED_PATHS.dump} within 5 s of the DATA signal`);
  const at = before.indexOf(`${DUMP}\n`);
  if (at < 0) throw new KeepalivedStateError('no answer');
  const dump = before.slice(at + DUMP.length + 1);
  // Written by a checker with virtual servers, the dump always has its topology section.
  if (!dump.includes('------< LVS Topology >------')) throw new KeepalivedStateError('the checker dump has no LVS topology');
  return { members: parseKeepalivedDump(dump), events: parseKeepalivedLog(logPart) };
}

/**
 * Health per member of every keepalived-owned service, keyed by memberKey(). alive=0 is down (since
 * its last "Removing" line, when that is its last event in this checker's log); alive=1 is up; a
 * member the checker does not know (keepalived.conf not applied yet) or no state at all is "unknown".
 */
export function keepalivedHealth(lvs: LvsSpec, state: KeepalivedState | Error): Map<string, MemberHealth> {
  const out = new Map<string, MemberHealth>();
  for (const svc of desiredTable({ services: lvs.services.filter(ownedByKeepalived) })) {
    const key = serviceKey(svc);
    for (const d of svc.dests) {
      const k = memberKey(key, d.address);
      if (state instanceof Error) {
        out.set(k, { monitor: 'keepalived', health: 'unknown', detail: state.message });
        continue;
      }
      const m = state.members.find((x) => x.service === key && x.dest === d.address);
      if (!m) {
        out.set(k, { monitor: 'keepalived', health: 'unknown', detail: `keepalived does not check ${d.address} of ${key} (keepalived.conf not applied?)` });
        continue;
      }
      const last = state.events.filter((e) => e.service === key && e.dest === d.address).at(-1);
      const since = !m.alive && last && !last.up ? new Date(last.at * 1000).toISOString() : undefined;
      out.set(k, {
        monitor: 'keepalived',
        health: m.alive ? 'up' : 'down',
        ...(since ? { since } : {}),
        detail: `keepalived checker: ${m.alive ? 'alive' : `failing (${m.failedCheckers} failed checker${m.failedCheckers === 1 ? '' : 's'})`}`,
      });
    }
  }
  return out;
}
