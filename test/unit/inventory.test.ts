// Inventory loading: Ansible-style groups and var precedence, the `lvs` section, and
// errors that point at the exact line and column of the bad value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory, InventoryError } from '../../src/inventory/load.js';
import { selectHosts } from '../../src/inventory/select.js';
import { parseWithPositions } from '../../src/inventory/positions.js';
import { SEED_LVS } from './helpers/seed-lvs.js';

// Compiled to dist/test/unit/: the sources live three levels up.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIX = join(ROOT, 'test/fixtures/inventory');
const fixture = (name: string) => join(FIX, name);

function loadError(file: string, extraVars?: Record<string, string>): InventoryError {
  try {
    loadInventory(file, { extraVars });
  } catch (e) {
    assert.ok(e instanceof InventoryError, `expected InventoryError, got ${String(e)}`);
    return e;
  }
  assert.fail(`${file} loaded without error`);
}

function tmpInventory(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'provision-inv-'));
  const file = join(dir, 'inventory.yaml');
  writeFileSync(file, text);
  return file;
}

interface Expected {
  line: number;
  column: number;
  path: (string | number)[];
  value: unknown;
  /** The full first line of the message, after "<file>:<line>:<col>: ". */
  text: string;
}

function assertSingleIssue(file: string, exp: Expected): InventoryError {
  const err = loadError(file);
  assert.equal(err.issues.length, 1, err.message);
  assert.equal(err.file, file);
  assert.equal(err.line, exp.line);
  assert.equal(err.column, exp.column);
  assert.deepEqual(err.path, exp.path);
  assert.deepEqual(err.value, exp.value);
  const rel = file.startsWith(process.cwd() + '/') ? file.slice(process.cwd().length + 1) : file;
  assert.equal(err.message, `${rel}:${exp.line}:${exp.column}: ${exp.text}`);
  return err;
}

test('the seed inventory maps exactly to the seed topology', () => {
  const inv = loadInventory(join(ROOT, 'inventory/seed.yaml'));
  assert.equal(inv.file, join(ROOT, 'inventory/seed.yaml'));
  assert.deepEqual(
    [...inv.groups],
    [
      ['all', ['director', 'rs1', 'rs2']],
      ['directors', ['director']],
      ['real_servers', ['rs1', 'rs2']],
    ],
  );

  assert.deepEqual(inv.lvs, SEED_LVS);

  const director = inv.hosts.get('director')!;
  assert.deepEqual(director.groups, ['directors', 'all']);
  assert.equal(director.vars.dip, '192.168.0.215');
  assert.equal(director.vars.lan_interface, 'eth0');
  assert.deepEqual(director.ssh, { name: 'director', address: '192.168.0.215', port: 22, user: 'root', become: false });
  for (const [name, ip] of [
    ['rs1', '192.168.0.216'],
    ['rs2', '192.168.0.217'],
  ] as const) {
    const h = inv.hosts.get(name)!;
    assert.deepEqual(h.groups, ['real_servers', 'all']);
    assert.equal(h.vars.rip, ip);
    assert.equal(h.vars.dip, undefined);
    assert.deepEqual(h.ssh, { name, address: ip, port: 22, user: 'root', become: false });
  }
});

test('the example inventory loads and applies the documented defaults', () => {
  const file = join(ROOT, 'inventory/example.yaml');
  const inv = loadInventory(file);
  const [www, dns] = inv.lvs!.services;
  assert.equal(www!.scheduler, 'wrr');
  assert.equal(www!.forwarding, 'dr');
  assert.equal(www!.persistence, 300);
  assert.deepEqual(www!.realServers, [
    { host: 'web1', address: '10.0.10.21', port: 443, weight: 3 },
    { host: 'web2', address: '10.0.10.22', port: 443, weight: 1 },
    { address: '10.0.10.23', port: 443, weight: 1 },
  ]);
  assert.deepEqual(www!.health, { monitor: 'keepalived', kind: 'http', url: '/healthz', interval: 6, timeout: 3 });
  assert.equal(dns!.protocol, 'udp');
  assert.equal(dns!.port, 53);
  assert.deepEqual(dns!.health, { monitor: 'keepalived', kind: 'dns', url: '/', query: 'www.example.net', interval: 10, timeout: 3 });
  assert.deepEqual(
    dns!.realServers.map((r) => [r.address, r.port, r.weight]),
    [
      ['10.0.10.21', 53, 1],
      ['10.0.10.22', 53, 1],
    ],
  );
  const lb1 = inv.hosts.get('lb1')!.ssh;
  assert.equal(lb1.privateKeyFile, join(ROOT, 'inventory/keys/deploy_ed25519'));
  assert.equal(lb1.knownHostsFile, join(ROOT, 'inventory/known_hosts'));
  assert.equal(lb1.becomePasswordEnv, 'LVS_SUDO_PASSWORD');
  assert.equal(lb1.become, true);
  assert.equal(inv.hosts.get('web2')!.ssh.port, 2222);
});

test('vars merge all < parent group < child group < host, ties by group name', () => {
  const inv = loadInventory(fixture('precedence.yaml'));
  const v = (host: string, key: string) => inv.hosts.get(host)!.vars[key];
  assert.equal(v('solo', 'level'), 'all');
  assert.equal(v('w1', 'level'), 'all');
  assert.equal(v('d1', 'level'), 'directors');
  assert.equal(v('d1', 'from_lb'), 'lb');
  assert.equal(v('d1', 'from_all'), 'a');
  assert.equal(v('d2', 'level'), 'host');
  // alpha and web are both depth 1: the later name (web) wins, as in Ansible.
  assert.equal(v('d2', 'tie'), 'web');
  assert.deepEqual(inv.hosts.get('d2')!.groups, ['directors', 'web', 'lb', 'alpha', 'all']);
  assert.deepEqual(inv.hosts.get('d1')!.groups, ['directors', 'lb', 'all']);
  assert.deepEqual(inv.hosts.get('solo')!.groups, ['all']);
});

test('ssh targets: defaults, coercion of yes, paths relative to the inventory', () => {
  const inv = loadInventory(fixture('precedence.yaml'));
  assert.deepEqual(inv.hosts.get('d1')!.ssh, {
    name: 'd1',
    address: '10.1.0.1',
    port: 2222,
    user: 'admin',
    become: true,
    privateKeyFile: join(FIX, 'keys/id_ed25519'),
    knownHostsFile: resolve(FIX, '../known_hosts'),
    passwordEnv: 'D1_PASS',
    becomePasswordEnv: 'D1_SUDO',
    proxyJump: 'admin@bastion.example.net:2200',
  });
  assert.deepEqual(inv.hosts.get('solo')!.ssh, { name: 'solo', address: 'solo.example.net', port: 22, user: 'admin', become: false });
  // No ansible_host: the inventory name is the address.
  assert.equal(inv.hosts.get('d2')!.ssh.address, 'd2');
});

test('groups hold their hosts transitively; a host in several groups is one host', () => {
  const inv = loadInventory(fixture('precedence.yaml'));
  assert.deepEqual([...inv.hosts.keys()], ['solo', 'd1', 'd2', 'w1']);
  assert.deepEqual(Object.fromEntries(inv.groups), {
    all: ['solo', 'd1', 'd2', 'w1'],
    lb: ['d1', 'd2'],
    directors: ['d1', 'd2'],
    web: ['d2', 'w1'],
    alpha: ['d2'],
  });
});

test('extra vars override every level for every host, typed where the var is', () => {
  const inv = loadInventory(fixture('precedence.yaml'), {
    extraVars: { level: 'cli', ansible_port: '2200', ansible_become: 'false', ansible_ssh_private_key_file: 'k/id' },
  });
  for (const h of inv.hosts.values()) {
    assert.equal(h.vars.level, 'cli', h.name);
    assert.equal(h.ssh.port, 2200, h.name);
    assert.equal(h.ssh.become, false, h.name);
    // -e paths are relative to where the command runs, not to the inventory.
    assert.equal(h.ssh.privateKeyFile, resolve(process.cwd(), 'k/id'), h.name);
  }
});

test('bad extra vars are reported with their -e name', () => {
  const err = loadError(fixture('valid.yaml'), { ansible_port: 'ssh', lvs: 'x', ansible_password: 'pw-from-cli' });
  assert.equal(err.issues.length, 3);
  assert.deepEqual(
    err.issues.map((i) => [i.label, i.line]),
    [
      ['-e ansible_port', undefined],
      ['-e lvs', undefined],
      ['-e ansible_password', undefined],
    ],
  );
  assert.match(err.message, /valid\.yaml: -e ansible_port: "ssh" is not a port/);
  assert.doesNotMatch(err.message, /pw-from-cli/);
});

test('the valid fixture loads (the bad-* fixtures each break it once)', () => {
  const inv = loadInventory(fixture('valid.yaml'));
  assert.deepEqual(
    inv.lvs!.services[0]!.realServers.map((r) => r.address),
    ['10.0.0.11', '10.0.0.12'],
  );
  assert.equal(inv.lvs!.services[0]!.health.monitor, 'none');
});

test('bad IPv4 address: file, line, column, path and value', () => {
  assertSingleIssue(fixture('bad-ip.yaml'), {
    line: 21,
    column: 16,
    path: ['all', 'vars', 'lvs', 'services', 0, 'vip'],
    value: '192.168.0.999',
    text: 'all.vars.lvs.services[0].vip: "192.168.0.999" is not an IPv4 address',
  });
});

test('bad port', () => {
  assertSingleIssue(fixture('bad-port.yaml'), {
    line: 22,
    column: 17,
    path: ['all', 'vars', 'lvs', 'services', 0, 'port'],
    value: 70000,
    text: 'all.vars.lvs.services[0].port: 70000 is not a port (an integer 1..65535)',
  });
});

test('unknown forwarding method', () => {
  assertSingleIssue(fixture('bad-forwarding.yaml'), {
    line: 24,
    column: 23,
    path: ['all', 'vars', 'lvs', 'services', 0, 'forwarding'],
    value: 'gre',
    text: 'all.vars.lvs.services[0].forwarding: "gre" is not one of: nat, dr, tun',
  });
});

test('real server host without rip', () => {
  assertSingleIssue(fixture('missing-rip.yaml'), {
    line: 19,
    column: 21,
    path: ['all', 'vars', 'lvs', 'services', 0, 'real_servers', 1, 'host'],
    value: 'rs2',
    text: 'all.vars.lvs.services[0].real_servers[1].host: "rs2" has no rip var (set rip: on the host, or give address: here)',
  });
});

test('real server host that is not in the inventory', () => {
  assertSingleIssue(fixture('unknown-rs-host.yaml'), {
    line: 26,
    column: 21,
    path: ['all', 'vars', 'lvs', 'services', 0, 'real_servers', 0, 'host'],
    value: 'rs9',
    text: 'all.vars.lvs.services[0].real_servers[0].host: "rs9" is not a host of this inventory',
  });
});

test('a literal password is refused without echoing it', () => {
  const err = assertSingleIssue(fixture('literal-password.yaml'), {
    line: 8,
    column: 7,
    path: ['all', 'hosts', 'db1', 'ansible_password'],
    value: undefined,
    text:
      'all.hosts.db1.ansible_password: is a literal password, and inventories must hold no secrets: ' +
      'put it in an environment variable and set ansible_password_env: <VAR_NAME> instead',
  });
  assert.doesNotMatch(err.message, /hunter2/);
  assert.doesNotMatch(JSON.stringify(err.issues), /hunter2/);
});

test('YAML syntax errors become InventoryErrors with js-yaml position', () => {
  assertSingleIssue(fixture('syntax-error.yaml'), {
    line: 6,
    column: 6,
    path: [],
    value: undefined,
    text: 'YAML syntax error: bad indentation of a mapping entry (at "rip: 10.0.0.6")',
  });
});

test('DR real server port must equal the service port', () => {
  assertSingleIssue(fixture('dr-port-mismatch.yaml'), {
    line: 28,
    column: 21,
    path: ['all', 'vars', 'lvs', 'services', 0, 'real_servers', 1, 'port'],
    value: 8080,
    text: 'all.vars.lvs.services[0].real_servers[1].port: 8080 must equal the service port 80: ' + 'DR cannot change the destination port (only nat can)',
  });
});

test('NAT real servers may use another port', () => {
  const file = tmpInventory(`all:
  hosts:
    rs1: {rip: 10.0.0.11}
  vars:
    lvs:
      services:
        - {name: web, vip: 10.0.0.100, port: 80, forwarding: nat, real_servers: [{host: rs1, port: 8080}]}
  children:
    directors: {hosts: {d1: {dip: 10.0.0.1}}}
    real_servers: {hosts: {rs1:}}
`);
  const inv = loadInventory(file);
  assert.equal(inv.lvs!.services[0]!.realServers[0]!.port, 8080);
});

test('duplicate virtual service', () => {
  assertSingleIssue(fixture('duplicate-service.yaml'), {
    line: 29,
    column: 16,
    path: ['all', 'vars', 'lvs', 'services', 1, 'vip'],
    value: '10.0.0.100',
    text: 'all.vars.lvs.services[1].vip: "10.0.0.100" duplicates services[0] (the same 10.0.0.100:80/tcp)',
  });
});

test('every issue is collected, in file order, one per line of the message', () => {
  const err = loadError(fixture('many-errors.yaml'));
  assert.deepEqual(
    err.issues.map((i) => [i.line, i.column, i.path.join('.'), i.value]),
    [
      [5, 21, 'all.hosts.lb1.ansible_host', '10.0.0.256'],
      [6, 21, 'all.hosts.lb1.ansible_port', 0],
      [7, 22, 'all.hosts.lb1.lan_interface', 'this-name-is-far-too-long'],
      [10, 12, 'all.hosts.rs1.dip', 'not-an-ip'],
      [11, 3, 'all.childern', undefined],
    ],
  );
  const lines = err.message.split('\n');
  assert.equal(lines.length, 5);
  assert.match(lines[4]!, /many-errors\.yaml:11:3: all\.childern: unknown key "childern"/);
  // The error itself carries the first issue.
  assert.deepEqual([err.line, err.column, err.value], [5, 21, '10.0.0.256']);
});

test('group cycles are reported', () => {
  const err = loadError(fixture('cycle.yaml'));
  assert.equal(err.issues.length, 1);
  assert.deepEqual([err.line, err.column], [4, 5]);
  assert.match(err.message, /is its own ancestor/);
});

test('lvs rules: fwmark, duplicates in a service, timeout < interval, rip/address conflict, lvs outside all', () => {
  const file = tmpInventory(`all:
  hosts:
    rs1:
      rip: 10.0.0.11
      lvs: {}
  vars:
    lvs:
      services:
        - name: fw
          vip: 10.0.0.100
          protocol: fwmark
          port: 80
          forwarding: dr
          real_servers:
            - address: 10.0.0.12
            - address: 10.0.0.12
          health: {monitor: mon, kind: tcp, interval: 5, timeout: 5}
        - name: web
          vip: 10.0.0.100
          port: 80
          fwmark: 3
          scheduler: fastest
          forwarding: tun
          real_servers:
            - host: rs1
              address: 10.0.0.13
  children:
    directors: {hosts: {d1:}}
    real_servers: {hosts: {rs1:}}
`);
  const err = loadError(file);
  assert.deepEqual(
    err.issues.map((i) => [i.line, i.column, i.message]),
    [
      [5, 7, 'lvs is a var of all: define it under all.vars'],
      [22, 22, 'is not one of: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh'],
    ],
  );
  // Schema errors come first; fix the scheduler to see the semantic ones.
  writeFileSync(file, readFileSync(file, 'utf8').replace('fastest', 'rr'));
  const err2 = loadError(file);
  assert.deepEqual(
    err2.issues.map((i) => [i.line, i.column, i.message]),
    [
      [5, 7, 'lvs is a var of all: define it under all.vars'],
      [11, 21, 'needs a fwmark: N (the firewall mark)'],
      [
        11,
        21,
        'is refused: provision does not write the packet-marking rules (iptables/nft MARK on the directors) a fwmark service needs, so its traffic would never reach IPVS; declare one tcp or udp service per port instead',
      ],
      [12, 17, 'must be 0 (or absent) for a fwmark service'],
      [16, 24, 'duplicates real_servers[0] (the same 10.0.0.12:80)'],
      [17, 29, 'cannot watch a fwmark service (lvs.alert names a VIP:port): use monitor none'],
      [17, 67, 'must be less than the interval (5)'],
      [21, 19, 'is only valid with protocol: fwmark'],
      [26, 24, "differs from host rs1's rip 10.0.0.11"],
    ],
  );
});

test('missing and unknown keys in the lvs section', () => {
  const file = tmpInventory(`all:
  vars:
    lvs:
      services:
        - name: web
          port: 80
          forwarding: tun
          weight: 3
          real_servers:
            - address: 10.0.0.12
  children:
    directors: {hosts: {d1:}}
`);
  const err = loadError(file);
  assert.deepEqual(
    err.issues.map((i) => [i.line, i.column, i.path.slice(3).join('.'), i.message]),
    [
      [5, 11, 'services.0.vip', 'is required'],
      [8, 11, 'services.0.weight', 'unknown key "weight"'],
    ],
  );
});

test('unreadable file and empty file', () => {
  const missing = join(FIX, 'does-not-exist.yaml');
  const err = loadError(missing);
  assert.equal(err.line, undefined);
  assert.match(err.message, /cannot read the inventory: ENOENT/);
  const empty = loadError(tmpInventory('# nothing here\n'));
  assert.match(empty.message, /the inventory is empty/);
});

test('selectHosts: patterns, limit subsets, inventory order, unknown names', () => {
  const inv = loadInventory(fixture('precedence.yaml'));
  const names = (pattern: string, limit?: string) => selectHosts(inv, pattern, limit).map((h) => h.name);
  assert.deepEqual(names('all'), ['solo', 'd1', 'd2', 'w1']);
  assert.deepEqual(names('lb'), ['d1', 'd2']);
  assert.deepEqual(names('w1'), ['w1']);
  assert.deepEqual(names('all', 'w1,directors'), ['d1', 'd2', 'w1']);
  assert.deepEqual(names('web', ' d1 , d2 '), ['d2']);
  assert.deepEqual(names('directors', 'solo'), []);
  assert.deepEqual(names('alpha,w1'), ['d2', 'w1']);
  assert.equal(selectHosts(inv, 'all')[0], inv.hosts.get('solo'));

  assert.throws(
    () => selectHosts(inv, 'all', 'd1,nosuch,ghost'),
    (e: unknown) => {
      assert.ok(e instanceof InventoryError);
      assert.deepEqual(
        e.issues.map((i) => [i.label, i.value]),
        [
          ['--limit', 'nosuch'],
          ['--limit', 'ghost'],
        ],
      );
      assert.match(e.message, /--limit: "nosuch" is not a host or group of this inventory/);
      return true;
    },
  );
  assert.throws(() => selectHosts(inv, 'nosuch'), /hosts pattern "nosuch": "nosuch" is not a host or group/);
});

test('positions: block, flow, comments, empty sequence entries, wrapped nodes', () => {
  const text = [
    '# comment', // 1
    'a:', // 2
    '  b: {c: 1, "d e": [x, y]}   # z', // 3
    '  list:', // 4
    '  - one', // 5
    '  -', // 6
    '  - [p, q]', // 7
    '  - k: v', // 8
    '    m:', // 9
    '  n: >', // 10
    '    folded', // 11
  ].join('\n');
  const { data, positions } = parseWithPositions(text, 'x.yaml');
  assert.deepEqual((data as { a: { list: unknown[] } }).a.list, ['one', null, ['p', 'q'], { k: 'v', m: null }]);
  const at = (...path: (string | number)[]) => {
    const p = positions.locate(path);
    return [p.line, p.column, p.exact];
  };
  assert.deepEqual(at(), [2, 1, true]);
  assert.deepEqual(at('a'), [3, 3, true]);
  assert.deepEqual(at('a', 'b'), [3, 6, true]);
  assert.deepEqual(at('a', 'b', 'c'), [3, 10, true]);
  assert.deepEqual(at('a', 'b', 'd e', 1), [3, 24, true]);
  assert.deepEqual(at('a', 'list'), [5, 3, true]);
  assert.deepEqual(at('a', 'list', 0), [5, 5, true]);
  assert.deepEqual(at('a', 'list', 2, 1), [7, 9, true]);
  assert.deepEqual(at('a', 'list', 3, 'k'), [8, 8, true]);
  // An empty value points at its key.
  assert.deepEqual(at('a', 'list', 3, 'm'), [9, 5, true]);
  assert.deepEqual(at('a', 'n'), [10, 6, true]);
  // A missing path falls back to its deepest existing ancestor.
  assert.deepEqual(at('a', 'list', 3, 'zz'), [8, 5, false]);
  const key = positions.locateKey(['a', 'b', 'd e']);
  assert.deepEqual([key.line, key.column], [3, 13]);
});

test('host vars the LVS playbooks read are checked at load time, with file and line', () => {
  const file = tmpInventory(`all:
  hosts:
    rs1:
      arp_method: noarpp
      nat_gateway: 10.0.0.300
      noarp_source: {path: noarp-1.2.4.tar.gz, sha256: abc, kind: tarball}
      mon_packages: [{name: mon, rpm: mon-1.2.0.rpm}, {name: fping}]
    rs2:
      arp_method: arptables
      ipvsadm_source: {path: ipvsadm-1.24-13.src.rpm, sha256: ${'a'.repeat(64)}, kind: srpm, version: 1.24-13}
`);
  const err = loadError(file);
  assert.deepEqual(
    err.issues.map((i) => [i.line, i.path.join('.')]),
    [
      [4, 'all.hosts.rs1.arp_method'],
      [5, 'all.hosts.rs1.nat_gateway'],
      [6, 'all.hosts.rs1.noarp_source'],
      [7, 'all.hosts.rs1.mon_packages'],
    ],
  );
  assert.match(err.message, /arp_method: "noarpp" is not an ARP method \(sysctl, noarp or arptables\)/);
  assert.match(err.message, /noarp_source: .* is not a source artifact/);
});

test("a var one or two edits away from a name provision reads is refused as a misspelling, naming the name; other vars are the user's own", () => {
  const file = tmpInventory(`all:
  vars:
    ansible_uesr: root
  hosts:
    d1:
      dip: 10.0.0.1
      lan_interfce: eth1
      Nat_Gateway: 10.0.0.254
      arpmethod: sysctl
    d2:
      dip: 10.0.0.2
      lan_interface: eth1
      lan_interfaces_note: my own var
      dip2: 10.0.0.9
      greeting: Hi
`);
  const err = loadError(file);
  assert.deepEqual(
    err.issues.map((i) => [i.line, i.path.join('.')]),
    [
      [3, 'all.vars.ansible_uesr'],
      [7, 'all.hosts.d1.lan_interfce'],
      [8, 'all.hosts.d1.Nat_Gateway'],
      [9, 'all.hosts.d1.arpmethod'],
    ],
  );
  assert.match(err.message, /lan_interfce: is not a variable provision knows: did you mean lan_interface\?/);
  assert.match(err.message, /ansible_uesr: .*did you mean ansible_user\?/);
  assert.match(err.message, /arpmethod: .*did you mean arp_method\?/);
  // -e goes through the same check.
  const e = loadError(fixture('valid.yaml'), { lan_interfce: 'eth0' });
  assert.match(e.message, /-e lan_interfce: is not a variable provision knows: did you mean lan_interface\?/);
});

test("addresses given with -e are checked like the file's: a dip that is the VIP, a rip two real servers would share", () => {
  // The VIP's line is the second owner of the address -e gave the director.
  const vip = loadError(fixture('valid.yaml'), { dip: '10.0.0.100' });
  assert.match(vip.message, /services\[0\]\.vip: "10\.0\.0\.100" is already director lb1's dip: one address, one owner/);
  const rip = loadError(fixture('valid.yaml'), { rip: '10.0.0.11' });
  assert.match(rip.message, /the same 10\.0\.0\.11:80/);
  // A dip that collides with nothing is fine (every host gets it; only the director uses it).
  assert.equal(loadInventory(fixture('valid.yaml'), { extraVars: { dip: '10.0.0.6' } }).hosts.get('lb1')?.vars.dip, '10.0.0.6');
});
