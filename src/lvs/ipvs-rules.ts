// The live IPVS table as a task: read `ipvsadm -S -n` (and the health monitor's own state, in the
// same round trip), apply the minimal commands, re-read and compare. Undo restores the table read.
// A member the monitor reports down is missing on purpose (status, not drift): never re-added.
// keepalived's services are its own: only a member it reports alive while missing from the table
// (a hand `ipvsadm -d`, which keepalived does not repair) is re-added; nothing else of theirs is touched.
import { own } from '../core/footprint.js';
import { createTwoFilesPatch } from 'diff';
import type { PlannedChange, Probe, Step, Task } from '../core/types.js';
import { SBIN_PATH, Script, raw, sh } from '../core/shell.js';
import { ModuleError } from '../modules/errors.js';
import { meta, type TaskMeta } from '../modules/util.js';
import { canonicalIpvs, desiredTable, diffIpvs, parseIpvsSave, renderIpvsSave, serviceKey, type IpvsCommand, type IpvsTable } from './ipvs-table.js';
import type { LvsSpec } from './types.js';
import { memberKey, monHealth, monProbeScript, parseMonOpstatus, type MemberHealth, type MonOpstatus } from './monitor-state.js';
import { keepalivedHealth, keepalivedProbeScript, parseKeepalivedState, type KeepalivedState } from './keepalived-state.js';

export interface IpvsRulesState {
  ipvsadm: boolean;
  ok: boolean;
  table: IpvsTable;
  error: string;
  /** mon's opstatus (when asked for), or why it could not be read. */
  mon?: MonOpstatus[] | Error;
  /** keepalived's checker state (when it owns services), or why it could not be read. */
  keepalived?: KeepalivedState | Error;
}

const MARK = '#provision-ipvs';
const MON_MARK = '#provision-mon-opstatus';
const KA_MARK = '#provision-keepalived-state';

const parsed = <T>(f: () => T): T | Error => {
  try {
    return f();
  } catch (e) {
    return e as Error;
  }
};

function rulesProbe(withMon: boolean, withKeepalived: boolean): Probe<IpvsRulesState> {
  return {
    script: sh`${SBIN_PATH}
if ! command -v ipvsadm >/dev/null 2>&1; then echo ${`${MARK} noipvsadm`}
elif out=$(ipvsadm -S -n 2>&1); then echo ${`${MARK} ok`}; printf '%s\\n' "$out"; else echo ${`${MARK} failed`}; printf '%s\\n' "$out"; fi
${withMon ? monProbeScript(MON_MARK) : raw('true')}
${withKeepalived ? keepalivedProbeScript(KA_MARK) : raw('true')}`,
    inline: true,
    blank: `${MARK} ok`,
    parse(out) {
      const [rulesAndMon = '', kaText] = out.stdout.split(`${KA_MARK}\n`);
      const [all = '', monText] = rulesAndMon.split(`${MON_MARK}\n`);
      const [head = '', ...rest] = all.split('\n');
      const body = rest.join('\n');
      const mon = withMon ? parsed(() => parseMonOpstatus(monText ?? '')) : undefined;
      const keepalived = withKeepalived ? parsed(() => parseKeepalivedState(kaText ?? '')) : undefined;
      if (head === `${MARK} noipvsadm`) return { ipvsadm: false, ok: false, table: [], error: 'ipvsadm is not installed' };
      if (head !== `${MARK} ok`) return { ipvsadm: true, ok: false, table: [], error: body.trim() || 'ipvsadm -S -n failed' };
      return { ipvsadm: true, ok: true, table: parseIpvsSave(body), error: '', ...(mon ? { mon } : {}), ...(keepalived ? { keepalived } : {}) };
    },
  };
}

/** A member out of service by its health check: what `check` and `up` report instead of drift. */
export interface OutOfService {
  service: string;
  dest: string;
  health: MemberHealth;
}

/**
 * The desired table minus the members that are missing from `live` while their monitor reports
 * them down: the monitor took them out and will put them back. Everything else stays desired.
 */
export function respectHealth(desired: IpvsTable, live: IpvsTable, health: Map<string, MemberHealth>): { table: IpvsTable; out: OutOfService[] } {
  const liveByKey = new Map(live.map((s) => [serviceKey(s), s]));
  const out: OutOfService[] = [];
  const table = desired.map((svc) => {
    const key = serviceKey(svc);
    const present = new Set((liveByKey.get(key)?.dests ?? []).map((d) => d.address));
    const dests = svc.dests.filter((d) => {
      const h = health.get(memberKey(key, d.address));
      if (present.has(d.address) || h?.health !== 'down') return true;
      out.push({ service: key, dest: d.address, health: h });
      return false;
    });
    return { ...svc, dests };
  });
  return { table, out };
}

export const outOfServiceNote = (o: OutOfService) =>
  `${o.dest} of ${o.service}: out of service: health check failing${o.health.since ? ` (since ${o.health.since})` : ''} [${o.health.detail}]`;

/** The members of keepalived's services that `up` re-adds, and what is only said of the others. */
export interface KeepalivedRepair {
  /** keepalived's live services, plus the members it reports alive that are missing (the only change). */
  table: IpvsTable;
  /** Missing and reported down by keepalived: its check took them out, it puts them back. */
  out: OutOfService[];
  /** Missing from a live service while keepalived's state could not be read or does not name them: left alone, said so. */
  unknown: OutOfService[];
  /** The re-added members, as "-a -t VIP:PORT -r RIP:PORT " (how `ipvsadm -S -n` prints them). */
  added: string[];
}

/**
 * keepalived's services as `up` leaves them: exactly as live, except a member missing while keepalived
 * reports it alive (a hand `ipvsadm -d`): keepalived believes it present and will not add it again,
 * so it is re-added with the inventory's (= keepalived.conf's) weight and method. keepalived then
 * finds it where it thinks it is and removes it itself if its check fails. Nothing is edited or
 * removed, and keepalived is not restarted (a restart re-adds every member and, with VRRP, moves the VIPs).
 */
export function keepalivedRepair(desired: IpvsTable, live: IpvsTable, health: Map<string, MemberHealth>): KeepalivedRepair {
  const liveByKey = new Map(live.map((s) => [serviceKey(s), s]));
  const r: KeepalivedRepair = { table: [], out: [], unknown: [], added: [] };
  for (const svc of desired) {
    const key = serviceKey(svc);
    const have = liveByKey.get(key);
    const add = svc.dests.filter((d) => {
      if (have?.dests.some((x) => x.address === d.address)) return false;
      const h = health.get(memberKey(key, d.address)) ?? { monitor: 'keepalived', health: 'unknown', detail: 'keepalived state not read' };
      if (h.health === 'up') return true;
      // A service keepalived has not loaded at all (not started yet, an offline render) gets no note per member.
      if (h.health === 'down') r.out.push({ service: key, dest: d.address, health: h });
      else if (have) r.unknown.push({ service: key, dest: d.address, health: h });
      return false;
    });
    r.added.push(...add.map((d) => `-a ${key} -r ${d.address} `));
    if (have) r.table.push({ ...have, dests: [...have.dests, ...add] });
    else if (add.length) r.table.push({ ...svc, dests: add });
  }
  return r;
}

const unknownNote = (o: OutOfService) => `${o.dest} of ${o.service}: missing from the live table; health unknown, left to keepalived [${o.health.detail}]`;

/**
 * Shell that runs the commands, then checks the live table equals `expected` (ipvsadm -R's exit
 * status is not enough). Services in `foreign` (owned by another daemon) are left out of that
 * comparison; of theirs, only the lines in `present` / `absent` are checked (keepalived may change
 * the rest at any moment).
 */
function applyScript(cmds: IpvsCommand[], expected: IpvsTable, foreign: readonly string[], check: { present?: string[]; absent?: string[] } = {}): Script {
  const want = canonicalIpvs(expected);
  const skip = foreign.length
    ? sh` | awk -v ${`skip=${foreign.join('|')}`} 'BEGIN { n = split(skip, k, "|"); for (i = 1; i <= n; i++) s[k[i]] = 1 } !(($2 " " $3) in s)'`
    : raw('');
  return Script.join(
    [
      SBIN_PATH,
      raw('set -e'),
      ...cmds.map((c) => sh`ipvsadm ${c.args}`),
      // Same normal form as canonicalIpvs(): 1.31's tunnel details dropped, C-locale sort.
      sh`live=$(ipvsadm -S -n${skip} | sed -e 's/ --tun-type [a-z]*//' -e 's/ --tun-[a-z]*\\( [0-9]*\\)\\{0,1\\}//g' | LC_ALL=C sort)`,
      sh`want=${want}`,
      raw('[ "$live" = "$want" ] || { echo "IPVS table differs after applying; live table:" >&2; printf "%s\\n" "$live" >&2; exit 1; }'),
      ...(check.present ?? []).map(
        (l) => sh`ipvsadm -S -n | grep -q -F -e ${l} || { echo ${`not in the live table after applying: ${l.trim()}`} >&2; exit 1; }`,
      ),
      ...(check.absent ?? []).map(
        (l) => sh`! ipvsadm -S -n | grep -q -F -e ${l} || { echo ${`still in the live table after applying: ${l.trim()}`} >&2; exit 1; }`,
      ),
    ],
    '\n',
  );
}

/**
 * The live table: `table` exactly, except the services keyed in `foreign` ("-t VIP:PORT", "-f MARK"),
 * which another daemon owns (keepalived adds and removes their real servers). Of those, the ones in
 * `keepalived` (its services in the inventory) have keepalived's checker state read in the same probe:
 * a member it reports alive while missing is re-added (keepalivedRepair), one it reports down is a
 * note; nothing else of theirs is touched.
 */
export function ipvsRules(
  o: TaskMeta & {
    table: IpvsTable;
    foreign?: readonly string[];
    /** services whose mon health is read */
    monitored?: LvsSpec;
    /** services keepalived owns (also in `foreign`): its checker state is read */
    keepalived?: LvsSpec;
  },
): Task<IpvsRulesState> {
  const foreign = o.foreign ?? [];
  const withMon = !!o.monitored?.services.some((s) => s.health.monitor === 'mon');
  const kaTable = o.keepalived ? desiredTable(o.keepalived).filter((s) => foreign.includes(serviceKey(s))) : [];
  const probe = rulesProbe(withMon, kaTable.length > 0);
  const healthOf = (s: IpvsRulesState) => (o.monitored && s.mon ? monHealth(o.monitored, s.mon) : new Map<string, MemberHealth>());
  const mineOf = (s: IpvsRulesState) => s.table.filter((svc) => !foreign.includes(serviceKey(svc)));
  const kaLiveOf = (s: IpvsRulesState) => s.table.filter((svc) => kaTable.some((k) => serviceKey(k) === serviceKey(svc)));
  const repairOf = (s: IpvsRulesState) =>
    kaTable.length && o.keepalived
      ? keepalivedRepair(kaTable, kaLiveOf(s), keepalivedHealth(o.keepalived, s.keepalived ?? new Error('keepalived state not read')))
      : undefined;
  return {
    ...meta('IPVS rules (live table)', o),
    module: 'ipvsRules',
    probe: () => probe,
    footprint: () => own('ipvs'),
    notes(s) {
      if (!s.ok) return [];
      const ka = repairOf(s);
      return [
        ...respectHealth(o.table, mineOf(s), healthOf(s)).out.map(outOfServiceNote),
        ...(ka?.out.map(outOfServiceNote) ?? []),
        ...(ka?.unknown.map(unknownNote) ?? []),
      ];
    },
    plan(s): PlannedChange[] {
      if (!s.ipvsadm) throw new ModuleError('ipvsRules', 'ipvsadm is not installed');
      if (!s.ok) throw new ModuleError('ipvsRules', `cannot read the IPVS table (is ip_vs in this kernel?): ${s.error}`);
      const live = mineOf(s);
      const want = respectHealth(o.table, live, healthOf(s)).table;
      const ka = repairOf(s);
      const kaLive = ka ? kaLiveOf(s) : [];
      const kaWant = ka?.table ?? [];
      const kaWhy = (c: IpvsCommand) => ({ ...c, why: `${c.why}: missing while keepalived reports it alive (keepalived does not re-add it)` });
      const cmds = [...diffIpvs(live, want), ...diffIpvs(kaLive, kaWant).map(kaWhy)];
      if (cmds.length === 0) return [];
      const undo = [...diffIpvs(want, live), ...diffIpvs(kaWant, kaLive)];
      const added = ka?.added ?? [];
      const step = (c: IpvsCommand[], t: IpvsTable, check: { present?: string[]; absent?: string[] }): Step => ({
        kind: 'exec',
        script: applyScript(c, t, foreign, check),
      });
      return [
        {
          summary: `IPVS: ${cmds.map((c) => `ipvsadm ${c.args.join(' ')}`).join('; ')}`,
          reason: cmds.map((c) => c.why).join('; '),
          diff: createTwoFilesPatch('ipvs (live)', 'ipvs (inventory)', renderIpvsSave([...live, ...kaLive]), renderIpvsSave([...want, ...kaWant])),
          apply: [step(cmds, want, { present: added })],
          undo: [step(undo, live, { absent: added })],
          before: { table: renderIpvsSave([...live, ...kaLive]) },
          after: { table: renderIpvsSave([...want, ...kaWant]) },
        },
      ];
    },
  };
}

/** Fails clearly when the kernel has no IPVS at all (not loaded, no module to load). */
export function ipvsKernel(o: TaskMeta = {}): Task<{ loaded: boolean; available: boolean }> {
  return {
    ...meta('IPVS in the kernel', o),
    module: 'ipvsKernel',
    probe: (ctx) => ({
      script: sh`${SBIN_PATH}
[ -e /proc/net/ip_vs ] && echo loaded=1
modinfo ip_vs >/dev/null 2>&1 && echo available=1
true`,
      // Offline, the host's facts say whether its kernel has IPVS (RHEL AS 3's 2.4 kernel does not).
      inline: true,
      blank: ctx.facts.ipvsKernel ? 'available=1' : '',
      parse: (out) => ({ loaded: /loaded=1/.test(out.stdout), available: /available=1/.test(out.stdout) }),
    }),
    plan(s) {
      if (!s.loaded && !s.available) {
        throw new ModuleError(
          'ipvsKernel',
          'the kernel has no IPVS: /proc/net/ip_vs is missing and there is no ip_vs module to load (a kernel built with CONFIG_IP_VS is needed)',
        );
      }
      return [];
    },
  };
}
