// What inventory values may be: host connection vars and LVS host vars (the `lvs` section: src/lvs/schema.ts).
// Validators return RawIssues (data paths); load.ts turns them into file positions.
import type { RawIssue, DataPath } from './errors.js';

export const HOST_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** Linux IFNAMSIZ is 16 including the NUL. No ":": eth0:1 is an address label, not an interface. */
export const IFACE_RE = /^[a-zA-Z0-9_.-]{1,15}$/;

/** The message for a value that is not an interface name; an alias names its base interface. */
export function ifaceMessage(v: unknown): string {
  if (typeof v === 'string' && /^[a-zA-Z0-9_.-]{1,15}:/.test(v)) {
    const base = v.slice(0, v.indexOf(':'));
    return `is an alias (an address label), not an interface: ip and keepalived need the interface itself, "${base}"`;
  }
  return 'is not an interface name (1-15 of [a-zA-Z0-9_.-])';
}
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh'] as const;

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);
const DNS_LABEL = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const DNS_RE = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*\\.?$`);

/** Strict dotted quad: four decimal octets, no leading zeros (010 would be octal to inet_aton). */
export function isIPv4(v: unknown): v is string {
  return typeof v === 'string' && IPV4_RE.test(v);
}

/** An IPv4 address, or a DNS name that does not look like a (bad) address. */
export function isHostAddress(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  if (/^[0-9.]+$/.test(v)) return isIPv4(v);
  return v.length <= 253 && DNS_RE.test(v);
}

const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

// ---------------------------------------------------------------------------------------------
// Host vars

/** Literal secrets Ansible accepts but we refuse: inventories are committed, secrets are not. */
const SECRET_VARS: Record<string, string> = {
  ansible_password: 'ansible_password_env',
  ansible_ssh_pass: 'ansible_password_env',
  ansible_ssh_password: 'ansible_password_env',
  ansible_become_password: 'ansible_become_password_env',
  ansible_become_pass: 'ansible_become_password_env',
  ansible_sudo_pass: 'ansible_become_password_env',
  ansible_sudo_password: 'ansible_become_password_env',
};

export const isSecretVar = (key: string): boolean => Object.hasOwn(SECRET_VARS, key);

const BOOL_WORDS: Record<string, boolean> = { true: true, yes: true, on: true, '1': true, false: false, no: false, off: false, '0': false };

/**
 * Normalises typed vars that arrive as strings (YAML 1.1 `yes`, `-e ansible_port=2222`).
 * Unknown or already-typed values are returned as they are.
 */
export function coerceHostVar(key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (key === 'ansible_port' && /^[0-9]{1,5}$/.test(value)) return Number(value);
  if (key === 'ansible_become') {
    const word = value.toLowerCase();
    if (Object.hasOwn(BOOL_WORDS, word)) return BOOL_WORDS[word];
  }
  return value;
}

const nonEmptyString = (v: unknown) => typeof v === 'string' && v.trim() !== '' && !/[\0\n]/.test(v);

/** A check and its message (a function when the message depends on the value). */
type VarCheck = [(v: unknown) => boolean, string | ((v: unknown) => string)];

const HOST_VAR_CHECKS: Record<string, VarCheck> = {
  ansible_host: [isHostAddress, 'is not an IPv4 address or a DNS host name'],
  ansible_port: [(v) => isInt(v, 1, 65535), 'is not a port (an integer 1..65535)'],
  ansible_user: [(v) => typeof v === 'string' && /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\$?$/.test(v), 'is not a user name'],
  ansible_become: [(v) => typeof v === 'boolean', 'is not a boolean (true/false)'],
  ansible_ssh_private_key_file: [nonEmptyString, 'is not a file path'],
  provision_known_hosts_file: [nonEmptyString, 'is not a file path'],
  ansible_ssh_proxy_jump: [(v) => typeof v === 'string' && /^[^\s'"`;&|]+$/.test(v), 'is not a jump host ([user@]host[:port])'],
  ansible_password_env: [(v) => typeof v === 'string' && ENV_NAME_RE.test(v), 'is not an environment variable name'],
  ansible_become_password_env: [(v) => typeof v === 'string' && ENV_NAME_RE.test(v), 'is not an environment variable name'],
  rip: [isIPv4, 'is not an IPv4 address'],
  dip: [isIPv4, 'is not an IPv4 address'],
  lan_interface: [(v) => typeof v === 'string' && IFACE_RE.test(v), ifaceMessage],
  // Read by the LVS playbooks; checked here so a typo is a file:line error before any host is contacted.
  arp_method: [(v) => v === 'sysctl' || v === 'noarp' || v === 'arptables', 'is not an ARP method (sysctl, noarp or arptables)'],
  nat_gateway: [isIPv4, 'is not an IPv4 address'],
  mon_packages: [isPackageList, 'is not a list of packages ({name} from the repositories, or {name, rpm|deb: controller path, sha256} pushed)'],
};

const PKG_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9+._-]*$/;

function isPackageList(v: unknown): boolean {
  return (
    Array.isArray(v) &&
    v.every((p) => {
      if (typeof p !== 'object' || p === null) return false;
      const e = p as Record<string, unknown>;
      const file = e.rpm ?? e.deb;
      return (
        typeof e.name === 'string' &&
        PKG_NAME_RE.test(e.name) &&
        Object.keys(e).every((k) => ['name', 'rpm', 'deb', 'sha256'].includes(k)) &&
        (e.rpm === undefined || e.deb === undefined) &&
        // A pushed package is pinned: its file and sha256 come together.
        (file === undefined ? e.sha256 === undefined : nonEmptyString(file) && typeof e.sha256 === 'string' && /^[0-9a-f]{64}$/.test(e.sha256))
      );
    })
  );
}

/** A source artifact pushed from the controller (`ipvsadm_source`, `noarp_source`, any `*_source`). */
function isSourceArtifact(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const a = v as Record<string, unknown>;
  return (
    nonEmptyString(a.path) &&
    typeof a.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(a.sha256) &&
    (a.kind === 'tarball' || a.kind === 'srpm') &&
    (a.version === undefined || /^[A-Za-z0-9._:~+-]+$/.test(String(a.version))) &&
    Object.keys(a).every((k) => ['path', 'sha256', 'kind', 'version'].includes(k))
  );
}

const SOURCE_ARTIFACT_CHECK: VarCheck = [isSourceArtifact, 'is not a source artifact {path, sha256 (64 lowercase hex), kind: tarball|srpm, version?}'];

/**
 * Names provision or its playbooks read besides HOST_VAR_CHECKS' (any other name is the user's own,
 * e.g. a template's variable). A name one or two edits away from one of these is a misspelling
 * that would otherwise be ignored without a word (`lan_interfce`: the LAN interface guessed instead).
 */
const READ_VARS = [
  'lvs',
  'lan_address',
  'ipvsadm_source',
  'noarp_source',
  'mon_source',
  'lab_lan_addresses',
  'lab_backup_director',
  'greeting',
  'demo_port',
  // Ansible's own, which an Ansible inventory may carry (accepted, not used).
  'ansible_connection',
  'ansible_python_interpreter',
  'ansible_become_user',
  'ansible_become_method',
  'ansible_ssh_common_args',
  'ansible_ssh_extra_args',
];
const KNOWN_VARS = new Set([...Object.keys(HOST_VAR_CHECKS), ...Object.keys(SECRET_VARS), ...READ_VARS]);

/** Optimal string alignment distance (a swap of two neighbours is one edit), stopping beyond `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

/** Answers by var name: a thousand hosts carry the same few names, each compared with every known one once. */
const misspelt = new Map<string, string | undefined>();

/** The known name `key` is a misspelling of, if any: short names (rip, dip) are left out, too many words are one edit from them. */
export function misspeltVar(key: string): string | undefined {
  if (KNOWN_VARS.has(key) || key.endsWith('_source')) return undefined;
  if (misspelt.has(key)) return misspelt.get(key);
  const lower = key.toLowerCase();
  let best: { name: string; d: number } | undefined;
  for (const name of KNOWN_VARS) {
    if (name.length < 6) continue;
    const d = lower === name ? 0 : editDistance(lower, name, 2);
    if (d <= 2 && (!best || d < best.d)) best = { name, d };
  }
  misspelt.set(key, best?.name);
  return best?.name;
}

/**
 * Checks one var as defined in a group or host (already coerced). `path` is where it was
 * defined. Returns at most one issue; a literal password is reported without its value.
 */
export function checkHostVar(key: string, value: unknown, path: DataPath): RawIssue | undefined {
  if (isSecretVar(key)) {
    const envForm = SECRET_VARS[key];
    return {
      path,
      atKey: true,
      message: `is a literal password, and inventories must hold no secrets: put it in an environment variable and set ${envForm}: <VAR_NAME> instead`,
    };
  }
  const near = misspeltVar(key);
  if (near)
    return {
      path,
      atKey: true,
      message: `is not a variable provision knows: did you mean ${near}? (provision would ignore this name; if it is a variable of your own, name it further from ${near})`,
    };
  const check = Object.hasOwn(HOST_VAR_CHECKS, key) ? HOST_VAR_CHECKS[key] : key.endsWith('_source') ? SOURCE_ARTIFACT_CHECK : undefined;
  if (check && !check[0](value)) return { path, value, message: typeof check[1] === 'function' ? check[1](value) : check[1] };
  return undefined;
}
