// An IPv4 address on an interface (the VIP on the director's LAN interface, on lo or tunl0),
// optionally with the link set up. Runtime state only; boot persistence is the playbooks' job.
import { own } from '../core/footprint.js';
import type { PlannedChange, Probe, Task } from '../core/types.js';
import { SBIN_PATH, raw, sh } from '../core/shell.js';
import { ModuleError } from './errors.js';
import { KeyValues, meta, type TaskMeta } from './util.js';

export interface IpAddressOptions extends TaskMeta {
  dev: string;
  address: string;
  prefix?: number;
  /** ifconfig-style alias label ("eth0:1"), so legacy tools still show it. */
  label?: string;
  /** Also bring the link up (tunl0 comes up down after modprobe ipip). */
  linkUp?: boolean;
}

export interface IpAddressState {
  devExists: boolean;
  up: boolean;
  addresses: string[];
}

const DEV_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const IP_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function ipAddress(o: IpAddressOptions): Task<IpAddressState> {
  if (!DEV_RE.test(o.dev)) throw new ModuleError('ipAddress', `bad interface name ${JSON.stringify(o.dev)}`);
  if (!IP_RE.test(o.address)) throw new ModuleError('ipAddress', `bad IPv4 address ${JSON.stringify(o.address)}`);
  const prefix = o.prefix ?? 32;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new ModuleError('ipAddress', `bad prefix ${prefix}`);
  if (o.label !== undefined && (!DEV_RE.test(o.label.replace(':', '')) || !o.label.startsWith(`${o.dev}:`))) {
    throw new ModuleError('ipAddress', `label must be ${o.dev}:<n>, got ${JSON.stringify(o.label)}`);
  }
  const cidr = `${o.address}/${prefix}`;
  const probe: Probe<IpAddressState> = {
    script: sh`${SBIN_PATH}
if ip link show dev ${o.dev} >/dev/null 2>&1; then
  echo dev=1
  ip -o link show dev ${o.dev} | grep -q '[<,]UP[,>]' && echo up=1
  ip -o -4 addr show dev ${o.dev} | awk '{print "addr=" $4}'
else echo dev=0; fi`,
    inline: true,
    blank: 'dev=1',
    parse(out) {
      const kv = new KeyValues(out.stdout);
      // No dev= line: the probe was cut short; that must not read as "interface does not exist".
      if (!kv.has('dev')) throw new ModuleError('ipAddress', `probe of ${o.dev} printed no state`);
      return { devExists: kv.get('dev') === '1', up: kv.get('up') === '1', addresses: kv.all('addr') };
    },
  };
  return {
    ...meta(`address ${cidr} on ${o.dev}`, o),
    module: 'ipAddress',
    probe: () => probe,
    footprint: () => own(`addr:${o.dev}`),
    plan(s): PlannedChange[] {
      if (!s.devExists) throw new ModuleError('ipAddress', `interface ${o.dev} does not exist`);
      const changes: PlannedChange[] = [];
      if (o.linkUp && !s.up) {
        changes.push({
          summary: `set link ${o.dev} up`,
          reason: `${o.dev} is down`,
          diff: `-${o.dev} down\n+${o.dev} up\n`,
          apply: [{ kind: 'exec', script: sh`${SBIN_PATH}; ip link set ${o.dev} up` }],
          undo: [{ kind: 'exec', script: sh`${SBIN_PATH}; if ip link show dev ${o.dev} >/dev/null 2>&1; then ip link set ${o.dev} down; fi` }],
          before: { dev: o.dev, up: false },
          after: { dev: o.dev, up: true },
        });
      }
      if (!s.addresses.includes(cidr)) {
        const same = s.addresses.find((a) => a.startsWith(`${o.address}/`));
        const add = sh`ip addr add ${cidr} dev ${o.dev}${o.label ? sh` label ${o.label}` : raw('')}`;
        changes.push({
          summary: `add ${cidr} to ${o.dev}${same ? ` (replacing ${same})` : ''}`,
          reason: same ? `${o.dev} has ${same}, wanted /${prefix}` : `${o.dev} lacks ${o.address}`,
          diff: `${same ? `-${same}\n` : ''}+${cidr}\n`,
          apply: [{ kind: 'exec', script: sh`${SBIN_PATH}; ${same ? sh`ip addr del ${same} dev ${o.dev} && ` : raw('')}${add}` }],
          // Tolerates the address being gone already (a boot unit's stop, undone just before, removes it too).
          undo: [
            {
              kind: 'exec',
              script: sh`${SBIN_PATH}; if ip -o -4 addr show dev ${o.dev} 2>/dev/null | grep -q ${` ${cidr} `}; then ip addr del ${cidr} dev ${o.dev}; fi${same ? sh` && ip addr add ${same} dev ${o.dev}` : raw('')}`,
            },
          ],
          before: { dev: o.dev, addresses: s.addresses },
          after: { dev: o.dev, add: cidr },
        });
      }
      return changes;
    },
  };
}
