// What the plays need of the inventory's groups and topology, refused at load time with file:line
// (exit 2) rather than found by a task on a host: group names, one forwarding method per real
// server, a NAT gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inventoryIssues as issues } from './helpers/inventory-issues.js';

interface Opts {
  services?: string;
  directorsGroup?: string;
  realServersGroup?: string;
  dip?: string;
  extra?: string;
}

const inventory = (o: Opts = {}) => `all:
  vars:
    lvs:
      services:
${
  o.services ??
  `        - name: web
          vip: 10.0.0.100
          port: 80
          forwarding: dr
          real_servers: [{host: rs1}, {host: rs2}]
`
}  children:
    ${o.directorsGroup ?? 'directors'}:
      hosts:
        director:
          dip: ${o.dip ?? '10.0.0.15'}
    ${o.realServersGroup ?? 'real_servers'}:
      hosts:
        rs1:
          rip: 10.0.0.16
        rs2:
          rip: 10.0.0.17
${o.extra ?? ''}`;

test('the inventory as the plays expect it loads', () => {
  assert.deepEqual(issues(inventory()), []);
});

test('lvs without a host in group directors: an error at lvs, saying the group is missing or empty', () => {
  assert.deepEqual(issues(inventory({ directorsGroup: 'director_s' })), [
    [
      3,
      'needs a host in group directors, which is missing: the director plays select their hosts by that group name (groups here: all, director_s, real_servers)',
    ],
  ]);
  const empty = inventory({ extra: '    directors:\n' }).replace(
    '    directors:\n      hosts:\n        director:\n',
    '    others:\n      hosts:\n        director:\n',
  );
  assert.deepEqual(issues(empty), [
    [
      3,
      'needs a host in group directors, which is empty: the director plays select their hosts by that group name (groups here: all, others, real_servers, directors)',
    ],
  ]);
});

test('a real server given by host: must be in group real_servers; one given by address: need not be a host', () => {
  const msg =
    'is not in group real_servers, so the real-server play would never configure it: add it to that group (a real server provision does not manage is given by address: only)';
  assert.deepEqual(issues(inventory({ realServersGroup: 'realservers' })), [
    [9, `"rs1" ${msg}`],
    [9, `"rs2" ${msg}`],
  ]);
  const extra = inventory({
    services: `        - name: web
          vip: 10.0.0.100
          port: 80
          forwarding: dr
          real_servers:
            - host: rs1
            - host: extra
            - address: 10.0.0.50
`,
    extra: '    others:\n      hosts:\n        extra:\n          rip: 10.0.0.40\n',
  });
  assert.deepEqual(issues(extra), [[11, `"extra" ${msg}`]]);
});

const twoServices = (first: string, second: string, secondRs = '[{host: rs1}, {host: rs2}]') => `        - name: a
          vip: 10.0.0.100
          port: 80
          forwarding: ${first}
          real_servers: [{host: rs1}, {host: rs2}]
        - name: b
          vip: 10.0.0.101
          port: 80
          forwarding: ${second}
          real_servers: ${secondRs}
`;

test('a managed real server in services with different forwarding: an error at its line in the second service', () => {
  const one = (host: string, fwd: string) =>
    `"${host}" is host ${host}, already a real server of services[0] with forwarding dr: a real server takes one forwarding method (DR puts the VIP on lo, TUN on tunl0, NAT routes through the director), not ${fwd} too`;
  assert.deepEqual(issues(inventory({ services: twoServices('dr', 'tun') })), [
    [14, one('rs1', 'tun')],
    [14, one('rs2', 'tun')],
  ]);
  assert.deepEqual(
    issues(inventory({ services: twoServices('dr', 'nat') })).map(([l]) => l),
    [14, 14],
  );
  // By address: the real_servers host whose rip it is.
  assert.deepEqual(issues(inventory({ services: twoServices('dr', 'tun', '[{address: 10.0.0.16}]') })), [
    [
      14,
      '"10.0.0.16" is host rs1, already a real server of services[0] with forwarding dr: a real server takes one forwarding method (DR puts the VIP on lo, TUN on tunl0, NAT routes through the director), not tun too',
    ],
  ]);
  // Unmanaged real servers and split sets are fine.
  assert.deepEqual(issues(inventory({ services: twoServices('dr', 'tun', '[{address: 10.0.0.60}]') })), []);
  assert.deepEqual(issues(inventory({ services: twoServices('dr', 'dr') })), []);
});

test('NAT without lvs.ha needs a director dip (or nat_gateway on each managed real server)', () => {
  const nat = `        - name: a
          vip: 10.0.0.100
          port: 80
          forwarding: nat
          real_servers: [{host: rs1}, {host: rs2}]
`;
  const noDip = inventory({ services: nat }).replace('          dip: 10.0.0.15\n', '          ansible_port: 22\n');
  assert.deepEqual(issues(noDip), [
    [
      8,
      '"nat" needs the director\'s dip as the real servers\' gateway, and no host of group directors has dip: set dip: on the director (or nat_gateway: on rs1, rs2)',
    ],
  ]);
  assert.deepEqual(issues(inventory({ services: nat })), []);
  const ownGateway = noDip.replace(/rip: (10\.0\.0\.1[67])\n/g, 'rip: $1\n          nat_gateway: 10.0.0.1\n');
  assert.deepEqual(issues(ownGateway), []);
  // Only unmanaged real servers: nothing on them is configured.
  assert.deepEqual(issues(noDip.replace('[{host: rs1}, {host: rs2}]', '[{address: 10.0.0.60}]')), []);
});

test('two hosts with the same SSH address and port: an error at the second, naming the first', () => {
  const mgmt = (rs2: string) =>
    inventory()
      .replace('          rip: 10.0.0.16\n', '          rip: 10.0.0.16\n          ansible_host: 192.0.2.3\n')
      .replace('          rip: 10.0.0.17\n', `          rip: 10.0.0.17\n${rs2}`);
  assert.deepEqual(issues(mgmt('          ansible_host: 192.0.2.3\n')), [
    [
      20,
      '"rs2" has the same SSH target as host rs1 (192.0.2.3 port 22): both names would configure one machine; give each host its own ansible_host or ansible_port',
    ],
  ]);
  // Another port, or another jump host in front of the same address: another machine.
  assert.deepEqual(issues(mgmt('          ansible_host: 192.0.2.3\n          ansible_port: 2222\n')), []);
  assert.deepEqual(issues(mgmt('          ansible_host: 192.0.2.3\n          ansible_ssh_proxy_jump: bastion2\n')), []);
});
