// Loads an Ansible-style YAML inventory: groups (hosts/vars/children), var precedence,
// SSH targets and the validated `lvs` section. Every problem is collected, then thrown
// as one InventoryError whose issues carry file:line:column.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import yaml from 'js-yaml';
import { InventoryError, type DataPath, type InventoryIssue, type RawIssue } from './errors.js';
import { parseWithPositions, type PositionIndex } from './positions.js';
import { HOST_NAME_RE, checkHostVar, coerceHostVar, isSecretVar } from './schema.js';
import type { HostEntry, Inventory, SshTarget } from './types.js';
import { validateLvs } from '../lvs/schema.js';
import type { LvsSpec } from '../lvs/types.js';

export { InventoryError } from './errors.js';
export type { InventoryIssue } from './errors.js';

export interface LoadOptions {
  /** `-e key=value` pairs: override every other var, for every host. */
  extraVars?: Record<string, string>;
}

/** One definition of a var; `path` is where in the file, absent for extra vars. */
interface VarDef {
  value: unknown;
  path?: DataPath;
}

interface GroupDef {
  name: string;
  parents: Set<string>;
  children: string[];
  /** Direct members, in order of appearance. */
  hosts: string[];
  vars: Map<string, VarDef>;
  path: DataPath;
}

interface HostDef {
  name: string;
  groups: Set<string>;
  vars: Map<string, VarDef>;
  path: DataPath;
}

const GROUP_KEYS = new Set(['hosts', 'vars', 'children']);
const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function loadInventory(file: string, opts: LoadOptions = {}): Inventory {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new InventoryError([{ file: abs, path: [], label: '', message: `cannot read the inventory: ${(e as Error).message}` }]);
  }
  let parsed: { data: unknown; positions: PositionIndex };
  try {
    parsed = parseWithPositions(text, abs);
  } catch (e) {
    if (e instanceof yaml.YAMLException) throw new InventoryError([syntaxIssue(abs, text, e)]);
    throw e;
  }
  return new Reader(abs, parsed.positions).read(parsed.data, opts.extraVars ?? {});
}

function syntaxIssue(file: string, text: string, e: yaml.YAMLException): InventoryIssue {
  const mark = (e as { mark?: { line: number; column: number } }).mark;
  const lineText = mark ? (text.split(/\r?\n/)[mark.line] ?? '') : '';
  const near = lineText
    .slice(mark?.column ?? 0)
    .trim()
    .slice(0, 40);
  return {
    file,
    path: [],
    label: 'YAML syntax error',
    message: near ? `${e.reason} (at "${near}")` : e.reason,
    ...(mark ? { line: mark.line + 1, column: mark.column + 1 } : {}),
  };
}

class Reader {
  private readonly raw: RawIssue[] = [];
  private readonly groups = new Map<string, GroupDef>();
  private readonly hosts = new Map<string, HostDef>();
  private readonly extra = new Map<string, VarDef>();

  constructor(
    private readonly file: string,
    private readonly positions: PositionIndex,
  ) {}

  read(data: unknown, extraVars: Record<string, string>): Inventory {
    this.group('all', [], undefined);
    if (data === null || data === undefined) {
      this.issue({ path: [], message: 'the inventory is empty (expected all: with hosts:, vars:, children:)' });
    } else if (!isMapping(data)) {
      this.issue({ path: [], value: data, message: 'is not a mapping (expected all: with hosts:, vars:, children:)' });
    } else {
      // Top-level groups other than `all` are its children, as in Ansible.
      for (const [name, def] of Object.entries(data)) {
        this.readGroup(name, def, [name], name === 'all' ? undefined : 'all');
      }
    }
    this.readExtraVars(extraVars);

    const depth = this.groupDepths();
    const hostVars = new Map<string, Record<string, unknown>>();
    const hostDefs = new Map<string, Map<string, VarDef>>();
    const hosts = new Map<string, HostEntry>();
    for (const host of this.hosts.values()) {
      const order = this.precedence(host, depth);
      const merged = new Map<string, VarDef>();
      for (const g of order) for (const [k, d] of this.groups.get(g)!.vars) merged.set(k, d);
      for (const [k, d] of host.vars) merged.set(k, d);
      for (const [k, d] of this.extra) merged.set(k, d);
      const vars = Object.fromEntries([...merged].map(([k, d]) => [k, d.value]));
      hostVars.set(host.name, vars);
      hostDefs.set(host.name, merged);
      if (this.groups.has(host.name)) {
        this.issue({ path: host.path, atKey: true, value: host.name, message: 'is both a host and a group name, so patterns would be ambiguous' });
      }
      hosts.set(host.name, { name: host.name, groups: [...order].reverse(), vars, ssh: this.sshTarget(host.name, merged) });
    }

    this.checkSshTargets(hosts);
    const groups = this.membership();
    const lvs = this.readLvs(hostVars, groups.get('directors') ?? [], groups.get('real_servers') ?? []);
    this.checkDirectorsGroup(groups);
    if (lvs) this.checkAddresses(lvs, hostDefs, groups.get('directors') ?? [], groups.get('real_servers') ?? []);
    if (this.raw.length) throw new InventoryError(this.located());
    return { file: this.file, hosts, groups, ...(lvs ? { lvs } : {}) };
  }

  private issue(i: RawIssue): void {
    this.raw.push(i);
  }

  private group(name: string, path: DataPath, parent: string | undefined): GroupDef {
    let g = this.groups.get(name);
    if (!g) {
      g = { name, parents: new Set(), children: [], hosts: [], vars: new Map(), path };
      this.groups.set(name, g);
    }
    if (parent !== undefined) {
      g.parents.add(parent);
      const p = this.groups.get(parent)!;
      if (!p.children.includes(name)) p.children.push(name);
    }
    return g;
  }

  private readGroup(name: string, def: unknown, path: DataPath, parent: string | undefined): void {
    if (name === 'all' && parent !== undefined) {
      this.issue({ path, atKey: true, value: name, message: 'cannot be a child group: every group is already in all' });
      return;
    }
    if (name !== 'all' && !HOST_NAME_RE.test(name)) {
      this.issue({ path, atKey: true, value: name, message: 'is not a valid group name ([A-Za-z0-9_.-], 1-63)' });
      return;
    }
    const g = this.group(name, path, parent);
    if (def === null || def === undefined) return;
    if (!isMapping(def)) {
      this.issue({ path, value: def, message: 'is not a group (a mapping with hosts:, vars:, children:)' });
      return;
    }
    for (const [key, value] of Object.entries(def)) {
      const at = [...path, key];
      if (!GROUP_KEYS.has(key)) this.issue({ path: at, atKey: true, message: `unknown key "${key}" (a group has hosts:, vars:, children:)` });
      else if (key === 'hosts') this.readHosts(g, value, at);
      else if (key === 'vars') this.readVars(g.vars, value, at, name === 'all' ? 'all' : 'group');
      else if (value !== null && !isMapping(value)) this.issue({ path: at, value, message: 'is not a mapping of child groups' });
      else for (const [child, cdef] of Object.entries(value ?? {})) this.readGroup(child, cdef, [...at, child], name);
    }
  }

  private readHosts(g: GroupDef, def: unknown, path: DataPath): void {
    if (def === null) return;
    if (!isMapping(def)) {
      this.issue({ path, value: def, message: 'is not a mapping of host names (to host vars or nothing)' });
      return;
    }
    for (const [name, vars] of Object.entries(def)) {
      const at = [...path, name];
      if (!HOST_NAME_RE.test(name)) {
        this.issue({ path: at, atKey: true, value: name, message: 'is not a valid host name ([A-Za-z0-9_.-], 1-63, not starting with . _ or -)' });
        continue;
      }
      let host = this.hosts.get(name);
      if (!host) {
        host = { name, groups: new Set(), vars: new Map(), path: at };
        this.hosts.set(name, host);
      }
      host.groups.add(g.name);
      if (!g.hosts.includes(name)) g.hosts.push(name);
      if (vars !== null && !isMapping(vars)) this.issue({ path: at, value: vars, message: 'is not a mapping of host vars' });
      else this.readVars(host.vars, vars, at, 'host');
    }
  }

  private readVars(target: Map<string, VarDef>, def: unknown, path: DataPath, scope: 'all' | 'group' | 'host'): void {
    if (def === null || def === undefined) return;
    if (!isMapping(def)) {
      this.issue({ path, value: def, message: 'is not a mapping of vars' });
      return;
    }
    for (const [key, rawValue] of Object.entries(def)) {
      const at = [...path, key];
      if (!VAR_NAME_RE.test(key)) {
        this.issue({ path: at, atKey: true, value: key, message: 'is not a valid variable name' });
        continue;
      }
      if (key === 'lvs' && scope !== 'all') {
        this.issue({ path: at, atKey: true, message: 'lvs is a var of all: define it under all.vars' });
        continue;
      }
      const value = coerceHostVar(key, rawValue);
      const bad = checkHostVar(key, value, at);
      if (bad) this.issue(bad);
      // A rejected secret is dropped so it can never reach a host's vars.
      if (!isSecretVar(key)) target.set(key, { value, path: at });
    }
  }

  private readExtraVars(extraVars: Record<string, string>): void {
    for (const [key, raw] of Object.entries(extraVars)) {
      const label = `-e ${key}`;
      if (!VAR_NAME_RE.test(key)) {
        this.issue({ path: [], label, message: 'is not a valid variable name' });
        continue;
      }
      if (key === 'lvs') {
        this.issue({ path: [], label, message: 'cannot be set with -e: edit all.vars.lvs in the inventory' });
        continue;
      }
      const value = coerceHostVar(key, raw);
      const bad = checkHostVar(key, value, []);
      if (bad) this.issue({ ...bad, label });
      else this.extra.set(key, { value });
    }
  }

  /** Longest distance from `all`: deeper groups are more specific and win. Reports cycles. */
  private groupDepths(): Map<string, number> {
    const depth = new Map<string, number>();
    const onPath = new Set<string>();
    const reported = new Set<string>();
    const visit = (name: string, d: number): void => {
      const g = this.groups.get(name)!;
      if (onPath.has(name)) {
        if (!reported.has(name)) {
          reported.add(name);
          this.issue({ path: g.path, atKey: true, value: name, message: 'is its own ancestor (children form a cycle)' });
        }
        return;
      }
      if ((depth.get(name) ?? -1) >= d) return;
      depth.set(name, d);
      onPath.add(name);
      for (const c of g.children) visit(c, d + 1);
      onPath.delete(name);
    };
    visit('all', 0);
    return depth;
  }

  /** The host's groups, lowest precedence first: all, then by depth, ties by name (as Ansible). */
  private precedence(host: HostDef, depth: Map<string, number>): string[] {
    const seen = new Set<string>();
    const walk = (name: string): void => {
      if (seen.has(name)) return;
      seen.add(name);
      for (const p of this.groups.get(name)!.parents) walk(p);
    };
    for (const g of host.groups) walk(g);
    seen.add('all');
    return [...seen].sort((a, b) => (depth.get(a) ?? 0) - (depth.get(b) ?? 0) || (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Every group with its hosts, children included, in inventory order. */
  private membership(): Map<string, string[]> {
    const order = [...this.hosts.keys()];
    const out = new Map<string, string[]>();
    for (const name of this.groups.keys()) {
      const members = new Set<string>();
      const seen = new Set<string>();
      const collect = (g: string): void => {
        if (seen.has(g)) return;
        seen.add(g);
        const def = this.groups.get(g)!;
        for (const h of def.hosts) members.add(h);
        for (const c of def.children) collect(c);
      };
      collect(name);
      out.set(name, name === 'all' ? order : order.filter((h) => members.has(h)));
    }
    return out;
  }

  private sshTarget(name: string, vars: Map<string, VarDef>): SshTarget {
    const str = (k: string): string | undefined => {
      const v = vars.get(k)?.value;
      return typeof v === 'string' ? v : undefined;
    };
    const file = (k: string): string | undefined => {
      const d = vars.get(k);
      if (typeof d?.value !== 'string') return undefined;
      return this.resolvePath(d.value, d.path !== undefined);
    };
    const port = vars.get('ansible_port')?.value;
    const become = vars.get('ansible_become')?.value;
    const target: SshTarget = {
      name,
      address: str('ansible_host') ?? name,
      port: typeof port === 'number' ? port : 22,
      // Unset stays '' so ~/.ssh/config's User applies, then the local user (as OpenSSH and Ansible do).
      user: str('ansible_user') ?? '',
      become: become === true,
    };
    const optional: Array<[keyof SshTarget, string | undefined]> = [
      ['privateKeyFile', file('ansible_ssh_private_key_file')],
      ['knownHostsFile', file('provision_known_hosts_file')],
      ['passwordEnv', str('ansible_password_env')],
      ['becomePasswordEnv', str('ansible_become_password_env')],
      ['proxyJump', str('ansible_ssh_proxy_jump')],
    ];
    for (const [k, v] of optional) if (v !== undefined) (target as unknown as Record<string, unknown>)[k] = v;
    return target;
  }

  /** ~ is the home directory; relative paths are relative to the inventory (or the cwd, for -e). */
  private resolvePath(p: string, fromFile: boolean): string {
    if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
    if (isAbsolute(p)) return p;
    return resolve(fromFile ? dirname(this.file) : process.cwd(), p);
  }

  private readLvs(hostVars: Map<string, Record<string, unknown>>, directors: string[], realServers: string[]): LvsSpec | undefined {
    const def = this.groups.get('all')!.vars.get('lvs');
    if (!def || def.path === undefined) return undefined;
    const base = def.path;
    const { spec, issues } = validateLvs(def.value, { hostVars, directors, realServers });
    for (const i of issues) this.issue({ ...i, path: [...base, ...i.path] });
    return spec;
  }

  /**
   * Two names for one SSH target (address, port, jump host) would have one machine configured
   * twice, with two roles' vars. Reported at the second host, naming the first.
   */
  private checkSshTargets(hosts: Map<string, HostEntry>): void {
    const first = new Map<string, string>();
    for (const h of hosts.values()) {
      const key = `${h.ssh.address.toLowerCase()}:${h.ssh.port} via ${h.ssh.proxyJump ?? ''}`;
      const prev = first.get(key);
      if (prev === undefined) {
        first.set(key, h.name);
        continue;
      }
      this.issue({
        path: this.hosts.get(h.name)!.path,
        atKey: true,
        value: h.name,
        message: `has the same SSH target as host ${prev} (${h.ssh.address} port ${h.ssh.port}): both names would configure one machine; give each host its own ansible_host or ansible_port`,
      });
    }
  }

  /**
   * The director plays select their hosts by the group name directors: without one, `up` would
   * configure no director at all and still succeed.
   */
  private checkDirectorsGroup(groups: Map<string, string[]>): void {
    const def = this.groups.get('all')!.vars.get('lvs');
    if (!def?.path || (groups.get('directors') ?? []).length > 0) return;
    const state = groups.has('directors') ? 'is empty' : 'is missing';
    this.issue({
      path: def.path,
      atKey: true,
      message: `needs a host in group directors, which ${state}: the director plays select their hosts by that group name (groups here: ${[...groups.keys()].join(', ')})`,
    });
  }

  /**
   * One address, one owner: two directors without lvs.ha would both hold the VIP (two hosts
   * answering ARP for it); a VIP, RIP, DIP or floating address used twice sends packets to
   * the wrong host. Reported where the second use is defined.
   */
  private checkAddresses(lvs: LvsSpec, hostDefs: Map<string, Map<string, VarDef>>, directors: string[], realServers: string[]): void {
    const base = this.groups.get('all')!.vars.get('lvs')!.path!;
    if (directors.length >= 2 && !lvs.ha) {
      const second = this.hosts.get(directors[1]!)!;
      const vips = [...new Set(lvs.services.map((s) => s.vip))].join(', ');
      this.issue({
        path: second.path,
        atKey: true,
        value: second.name,
        message: `is a second director but lvs has no ha section: each director would hold the VIP ${vips} as a static address and answer ARP for it (duplicate VIP); add lvs.ha (VRRP moves the VIP to one director at a time) or keep one director`,
      });
    }
    /** Who owns an address: "host X's dip", "the VIP of services[0]". */
    const owners = new Map<string, { what: string; path: DataPath; host?: string }>();
    const claim = (address: string, what: string, path: DataPath, host?: string, label?: string) => {
      const at = { path, ...(label ? { label } : {}) };
      const prev = owners.get(address);
      if (!prev) {
        owners.set(address, { what, path, host });
        return;
      }
      // One group var (or one -e) read by several hosts, or a real server naming its own host: the same definition.
      if (JSON.stringify(prev.path) === JSON.stringify(path) && prev.host !== host) {
        this.issue({ ...at, value: address, message: `is ${prev.what} and ${what}: one address cannot be on two hosts (define it per host)` });
        return;
      }
      if (JSON.stringify(prev.path) === JSON.stringify(path) || (prev.host !== undefined && prev.host === host)) return;
      this.issue({ ...at, value: address, message: `is already ${prev.what}: one address, one owner (${what} must differ)` });
    };
    // A var given with -e has no place in the file: it is named by its -e. It is every host's, but
    // only the hosts that use it own the address (a director's dip, a real server's rip).
    const claimVar = (key: 'dip' | 'rip', def: VarDef | undefined, what: string, host: string, uses: boolean) => {
      if (typeof def?.value !== 'string' || (!def.path && !uses)) return;
      claim(def.value, what, def.path ?? [], host, def.path ? undefined : `-e ${key}`);
    };
    for (const d of directors) claimVar('dip', hostDefs.get(d)?.get('dip'), `director ${d}'s dip`, d, true);
    for (const [name, defs] of hostDefs) {
      claimVar('rip', defs.get('rip'), `host ${name}'s rip`, name, realServers.includes(name));
      if (!directors.includes(name)) claimVar('dip', defs.get('dip'), `host ${name}'s dip`, name, false);
    }
    lvs.services.forEach((s, i) =>
      s.realServers.forEach((rs, j) => {
        // A real server named by host: its rip was claimed above (the same address, the same host).
        const isHostRip = [...hostDefs.values()].some((defs) => defs.get('rip')?.value === rs.address);
        if (rs.host === undefined && !isHostRip)
          claim(rs.address, `real server ${rs.address} of services[${i}]`, [...base, 'services', i, 'real_servers', j, 'address'], `rs:${rs.address}`);
      }),
    );
    const vipOwner = new Map<string, number>();
    lvs.services.forEach((s, i) => {
      if (vipOwner.has(s.vip)) return; // several services (ports) share a VIP
      vipOwner.set(s.vip, i);
      claim(s.vip, `the VIP of services[${i}]`, [...base, 'services', i, 'vip']);
    });
    if (lvs.ha?.natGateway) claim(lvs.ha.natGateway, 'lvs.ha.nat_gateway', [...base, 'ha', 'nat_gateway']);
    lvs.ha?.floating.forEach((c, k) => claim(c.split('/')[0]!, `lvs.ha.floating[${k}]`, [...base, 'ha', 'floating', k]));
  }

  private located(): InventoryIssue[] {
    const out = this.raw.map((i): InventoryIssue => {
      if (i.label !== undefined) return { ...i, file: this.file };
      const { line, column } = i.atKey ? this.positions.locateKey(i.path) : this.positions.locate(i.path);
      return { ...i, file: this.file, line, column };
    });
    // File order reads best; issues without a position (-e) go last.
    const rank = (i: InventoryIssue) => (i.line ?? Number.MAX_SAFE_INTEGER) * 1e6 + (i.column ?? 0);
    return out.sort((a, b) => rank(a) - rank(b));
  }
}
