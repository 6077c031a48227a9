// lvs.ha (a backup director) and address collisions: two directors need VRRP, and no address
// may belong to two owners. Errors point at the line of the second use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadInventory } from '../../src/inventory/load.js';
import { inventoryIssues as issues, tmpInventory } from './helpers/inventory-issues.js';

const inventory = (opts: { ha?: string; forwarding?: string; dip2?: string; rip1?: string; vip?: string } = {}) => `all:
  vars:
    lvs:
      services:
        - name: web
          vip: ${opts.vip ?? '10.0.0.18'}
          port: 80
          forwarding: ${opts.forwarding ?? 'tun'}
          real_servers:
            - host: rs1
            - host: rs2
${opts.ha ?? ''}  children:
    directors:
      hosts:
        director:
          dip: 10.0.0.15
        director2:
          dip: ${opts.dip2 ?? '10.0.0.14'}
    real_servers:
      hosts:
        rs1:
          rip: ${opts.rip1 ?? '10.0.0.16'}
        rs2:
          rip: 10.0.0.17
`;

test('two directors without lvs.ha: an error at the second director, saying why (duplicate VIP)', () => {
  assert.deepEqual(issues(inventory()), [
    [
      17,
      '"director2" is a second director but lvs has no ha section: each director would hold the VIP 10.0.0.18 as a static address and answer ARP for it (duplicate VIP); add lvs.ha (VRRP moves the VIP to one director at a time) or keep one director',
    ],
  ]);
});

test('lvs.ha: defaults (priority by order, advert 1 s, preempt, multicast, sync on with the router id)', () => {
  const inv = loadInventory(tmpInventory(inventory({ ha: '      ha:\n        virtual_router_id: 51\n' })));
  assert.deepEqual(inv.lvs!.ha, {
    virtualRouterId: 51,
    priorities: { director: 150, director2: 140 },
    advertInterval: 1,
    preempt: true,
    unicast: false,
    floating: [],
    sync: { enabled: true, id: 51 },
  });
});

test('lvs.ha: every option', () => {
  const inv = loadInventory(
    tmpInventory(
      inventory({
        forwarding: 'nat',
        ha: `      ha:
        virtual_router_id: 7
        priorities: {director2: 200}
        advert_interval: 2
        preempt: false
        unicast: true
        interface: eth1
        nat_gateway: 10.0.0.13
        floating: [10.0.1.2/24]
        sync: {enabled: true, interface: eth2, id: 9}
`,
      }),
    ),
  );
  assert.deepEqual(inv.lvs!.ha, {
    virtualRouterId: 7,
    priorities: { director: 150, director2: 200 },
    advertInterval: 2,
    preempt: false,
    unicast: true,
    interface: 'eth1',
    natGateway: '10.0.0.13',
    floating: ['10.0.1.2/24'],
    sync: { enabled: true, interface: 'eth2', id: 9 },
  });
});

test('lvs.ha: bad values are named at their line', () => {
  assert.deepEqual(issues(inventory({ ha: '      ha:\n        virtual_router_id: 256\n        priorities: {rs1: 100}\n        floating: [10.0.1.2]\n' })), [
    [13, '256 is not a VRRP virtual router id (an integer 1..255)'],
    [15, '"10.0.1.2" is not an IPv4 address with a prefix (a.b.c.d/n)'],
  ]);
  assert.deepEqual(issues(inventory({ ha: '      ha:\n        virtual_router_id: 5\n        priorities: {rs1: 100}\n' })), [
    [14, '"rs1" is not a host of group directors'],
  ]);
  assert.deepEqual(issues(inventory({ ha: '      ha:\n        virtual_router_id: 5\n        priorities: {director2: 150}\n' })), [
    [14, 'gives director and director2 the same priority 150: set distinct priorities'],
  ]);
});

test('lvs.ha: NAT needs a floating gateway for the real servers; one director is not HA', () => {
  assert.deepEqual(issues(inventory({ forwarding: 'nat', ha: '      ha:\n        virtual_router_id: 5\n' })), [
    [12, "needs nat_gateway: a NAT service's real servers route through the director, so their gateway must follow the master (a floating address)"],
  ]);
  const one = inventory({ ha: '      ha:\n        virtual_router_id: 5\n' }).replace(/        director2:\n          dip: 10.0.0.14\n/, '');
  assert.deepEqual(issues(one), [[12, 'needs two or more hosts in group directors (found 1): a backup director is what it configures']]);
});

test('address collisions: VIP = RIP, RIP = DIP, the same dip on two directors, a floating address = a VIP', () => {
  const ha = '      ha:\n        virtual_router_id: 5\n';
  assert.deepEqual(issues(inventory({ ha, vip: '10.0.0.16' })), [
    [6, '"10.0.0.16" is already host rs1\'s rip: one address, one owner (the VIP of services[0] must differ)'],
  ]);
  assert.deepEqual(issues(inventory({ ha, rip1: '10.0.0.15' })), [
    [24, '"10.0.0.15" is already director director\'s dip: one address, one owner (host rs1\'s rip must differ)'],
  ]);
  assert.deepEqual(issues(inventory({ ha, dip2: '10.0.0.15' })), [
    [20, '"10.0.0.15" is already director director\'s dip: one address, one owner (director director2\'s dip must differ)'],
  ]);
  assert.deepEqual(issues(inventory({ ha: `${ha}        floating: [10.0.0.18/24]\n` })), [
    [14, '"10.0.0.18" is already the VIP of services[0]: one address, one owner (lvs.ha.floating[0] must differ)'],
  ]);
});

test('one dip defined in a group for two directors is a collision, at that line', () => {
  const text = inventory({ ha: '      ha:\n        virtual_router_id: 5\n' })
    .replace('\n    directors:\n', '\n    directors:\n      vars:\n        dip: 10.0.0.30\n')
    .replace(/          dip: 10\.0\.0\.1[45]\n/g, '          lan_interface: eth1\n');
  assert.deepEqual(issues(text), [
    [17, '"10.0.0.30" is director director\'s dip and director director2\'s dip: one address cannot be on two hosts (define it per host)'],
  ]);
});
