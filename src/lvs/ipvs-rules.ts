// The live IPVS table as a task: read `ipvsadm -S -n` (and the health monitor's own state, in the
// same round trip), apply the minimal commands, re-read and compare. Undo restores the table read.
// A member the monitor reports down is missing on purpose (status, not drift): never re-added.
import { own } from '../core/footprint.js';
import { createTwoFilesPatch } from 'diff';
import type { PlannedChange, Probe, Step, Task } from '../core/types.js';
import { SBIN_PATH, Script, raw, sh } from '../core/shell.js';
import { ModuleError } from '../modules/errors.js';
import { meta, type TaskMeta } from '../modules/util.js';
import { canonicalIpvs, diffIpvs, parseIpvsSave, renderIpvsSave, serviceKey, type IpvsCommand, type IpvsTable } from './ipvs-table.js';
import type { LvsSpec } from './types.js';
import { memberKey, monHealth, monProbeScript, parseMonOpstatus, type MemberHealth, type MonOpstatus } from './monitor-state.js';

export interface IpvsRulesState {
  ipvsadm: boolean;
  ok: boolean;
  table: IpvsTable;
  error: string;
  /** mon's opstatus (when asked for), or why it could not be read. */
  mon?: MonOpstatus[] | Error;
}

const MARK = '#provision-ipvs';
const MON_MARK = '#provision-mon-opstatus';

function rulesProbe(withMon: boolean): Probe<IpvsRulesState> {
  return {
    script: sh`${SBIN_PATH}
if ! command -v ipvsadm >/dev/null 2>&1; then echo ${`${MARK} noipvsadm`}
elif out=$(ipvsadm -S -n 2>&1); then echo ${`${MARK} ok`}; printf '%s\\n' "$out"; else echo ${`${MARK} failed`}; printf '%s\\n' "$out"; fi
${withMon ? monProbeScript(MON_MARK) : raw('true')}`,
    blank: `${MARK} ok`,
    parse(out) {
      const [all = '', monText] = out.stdout.split(`${MON_MARK}\n`);
      const [head = '', ...rest] = all.split('\n');
      const body = rest.join('\n');
      let mon: IpvsRulesState['mon'];
      if (withMon) {
        try {
          mon = parseMonOpstatus(monText ?? '');
        } catch (e) {
          mon = e as Error;
        }
      }
      if (head === `${MARK} noipvsadm`) return { ipvsadm: false, ok: false, table: [], error: 'ipvsadm is not installed' };
      if (head !== `${MARK} ok`) return { ipvsadm: true, ok: false, table: [], error: body.trim() || 'ipvsadm -S -n failed' };
      return { ipvsadm: true, ok: true, table: parseIpvsSave(body), error: '', ...(mon ? { mon } : {}) };
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

/**
 * Shell that runs the commands, then checks the live table equals `expected` (ipvsadm -R's exit
 * status is not enough). Services in `foreign` (owned by another daemon) are left out of the check.
 */
function applyScript(cmds: IpvsCommand[], expected: IpvsTable, foreign: readonly string[]): Script {
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
    ],
    '\n',
  );
}

/**
 * The live table: `table` exactly, except the services keyed in `foreign` ("-t VIP:PORT", "-f MARK"),
 * which another daemon owns (keepalived adds and removes their real servers): never touched.
 */
export function ipvsRules(
  o: TaskMeta & { table: IpvsTable; foreign?: readonly string[] /** services whose mon health is read */; monitored?: LvsSpec },
): Task<IpvsRulesState> {
  const foreign = o.foreign ?? [];
  const withMon = !!o.monitored?.services.some((s) => s.health.monitor === 'mon');
  const probe = rulesProbe(withMon);
  const healthOf = (s: IpvsRulesState) => (o.monitored && s.mon ? monHealth(o.monitored, s.mon) : new Map<string, MemberHealth>());
  return {
    ...meta('IPVS rules (live table)', o),
    module: 'ipvsRules',
    probe: () => probe,
    footprint: () => own('ipvs'),
    notes(s) {
      if (!s.ok) return [];
      const live = s.table.filter((svc) => !foreign.includes(serviceKey(svc)));
      return respectHealth(o.table, live, healthOf(s)).out.map(outOfServiceNote);
    },
    plan(s): PlannedChange[] {
      if (!s.ipvsadm) throw new ModuleError('ipvsRules', 'ipvsadm is not installed');
      if (!s.ok) throw new ModuleError('ipvsRules', `cannot read the IPVS table (is ip_vs in this kernel?): ${s.error}`);
      const live = s.table.filter((svc) => !foreign.includes(serviceKey(svc)));
      const want = respectHealth(o.table, live, healthOf(s)).table;
      const cmds = diffIpvs(live, want);
      if (cmds.length === 0) return [];
      const undo = diffIpvs(want, live);
      const step = (c: IpvsCommand[], t: IpvsTable): Step => ({ kind: 'exec', script: applyScript(c, t, foreign) });
      return [
        {
          summary: `IPVS: ${cmds.map((c) => `ipvsadm ${c.args.join(' ')}`).join('; ')}`,
          reason: cmds.map((c) => c.why).join('; '),
          diff: createTwoFilesPatch('ipvs (live)', 'ipvs (inventory)', renderIpvsSave(live), renderIpvsSave(want)),
          apply: [step(cmds, want)],
          undo: [step(undo, live)],
          before: { table: renderIpvsSave(live) },
          after: { table: renderIpvsSave(want) },
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
    probe: () => ({
      script: sh`${SBIN_PATH}
[ -e /proc/net/ip_vs ] && echo loaded=1
modinfo ip_vs >/dev/null 2>&1 && echo available=1
true`,
      blank: 'available=1',
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
