// Values the inventory accepted but keepalived, mon or ipvsadm would refuse or misread: refused at
// load time with file:line instead (health.url, persistence, health.timeout, interface aliases,
// DNS_CHECK names).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inventoryIssues as issues } from './helpers/inventory-issues.js';

/** One tcp service (line 9: its health or persistence); director vars and lvs.ha at the end. */
const inventory = (o: { service?: string; director?: string; ha?: string; protocol?: string } = {}) => `all:
  vars:
    lvs:
      services:
        - name: web
          vip: 10.0.0.100
          port: ${o.protocol === 'udp' ? 53 : 80}
          protocol: ${o.protocol ?? 'tcp'}
${o.service ?? '          health: {monitor: none, kind: tcp}'}
          forwarding: dr
          real_servers: [{address: 10.0.0.16}]
${o.ha ?? ''}  children:
    directors:
      hosts:
        director:
          dip: 10.0.0.15
${o.director ?? ''}`;

const http = (monitor: string, url: string) => inventory({ service: `          health: {monitor: ${monitor}, kind: http, url: ${JSON.stringify(url)}}` });

test('health.url: RFC 3986 path and query characters load; each character keepalived.conf or mon.cf would misread is named', () => {
  for (const monitor of ['mon', 'keepalived']) assert.deepEqual(issues(http(monitor, '/a-b_c.d~e/f?g=1&h=(2)*+,;:@%20')), [], monitor);
  const refused = (url: string, ch: string, hex: string): [number, string] => [
    9,
    `${JSON.stringify(url)} is not a URL path keepalived.conf and mon.cf can carry: ${JSON.stringify(ch)} is not allowed (percent-encode it: %${hex})`,
  ];
  assert.deepEqual(issues(http('keepalived', '/a#b')), [refused('/a#b', '#', '23')]);
  assert.deepEqual(issues(http('mon', '/a!b')), [refused('/a!b', '!', '21')]);
  assert.deepEqual(issues(http('mon', '/$(id)')), [refused('/$(id)', '$', '24')]);
  for (const [ch, hex] of [
    ['"', '22'],
    ["'", '27'],
    ['\\', '5C'],
    ['{', '7B'],
    ['}', '7D'],
    [' ', '20'],
    ['\t', '09'],
    ['`', '60'],
  ])
    assert.deepEqual(issues(http('keepalived', `/x${ch}`)), [refused(`/x${ch}`, ch, hex)], ch);
  assert.deepEqual(issues(http('mon', '/%zz')), [[9, '"/%zz" is not a URL path: "%" must start a percent-encoding (% and two hex digits)']]);
  assert.deepEqual(issues(http('mon', 'index.html')), [[9, '"index.html" is not a URL path (must start with /)']]);
});

test('persistence: at most 31 days (2678400 s), the limit of ipvsadm and keepalived', () => {
  assert.deepEqual(issues(inventory({ service: '          persistence: 2678400' })), []);
  assert.deepEqual(issues(inventory({ service: '          persistence: 2678401' })), [
    [9, '2678401 is not a number of seconds (1..2678400: at most 31 days, the limit of ipvsadm and keepalived)'],
  ]);
});

test('health.timeout: at most 4294 s under keepalived (connect_timeout); mon is not limited', () => {
  const health = (monitor: string, timeout: number) =>
    inventory({ service: `          health: {monitor: ${monitor}, kind: tcp, interval: 5000, timeout: ${timeout}}` });
  assert.deepEqual(issues(health('keepalived', 4294)), []);
  assert.deepEqual(issues(health('keepalived', 4295)), [[9, '4295 is more than keepalived accepts as connect_timeout (at most 4294 seconds)']]);
  assert.deepEqual(issues(health('mon', 4295)), []);
});

test('interfaces: an alias (eth0:1) is refused, naming its base interface', () => {
  const alias = (v: string) => `"${v}" is an alias (an address label), not an interface: ip and keepalived need the interface itself, "eth1"`;
  assert.deepEqual(issues(inventory({ director: '          lan_interface: eth1:1\n' })), [[17, alias('eth1:1')]]);
  assert.deepEqual(issues(inventory({ director: '          lan_interface: eth1\n' })), []);
  assert.deepEqual(issues(inventory({ director: '          lan_interface: "bad/name"\n' })), [
    [17, '"bad/name" is not an interface name (1-15 of [a-zA-Z0-9_.-])'],
  ]);
  const ha = (iface: string, syncIface: string) =>
    inventory({
      ha: `      ha:\n        virtual_router_id: 51\n        interface: ${iface}\n        sync: {interface: ${syncIface}}\n`,
      director: '        director2:\n          dip: 10.0.0.14\n',
    });
  assert.deepEqual(issues(ha('eth1', 'eth1')), []);
  assert.deepEqual(issues(ha('eth1:1', 'eth1:9')), [
    [14, alias('eth1:1')],
    [15, alias('eth1:9').replace('eth1:1', 'eth1:9')],
  ]);
});

test('keepalived DNS_CHECK: a name whose first label is one character is refused (keepalived 2.2.7 "has empty label")', () => {
  const dns = (monitor: string, query: string) =>
    inventory({ protocol: 'udp', service: `          health: {monitor: ${monitor}, kind: dns, query: ${query}, interval: 5, timeout: 2}` });
  assert.deepEqual(issues(dns('keepalived', 'a.example.net')), [
    [
      9,
      '"a.example.net" starts with the one-character label "a", which keepalived 2.2.7 (Debian 12) rejects in a DNS_CHECK name ("has empty label"): query a name whose first label is longer',
    ],
  ]);
  // keepalived -t accepts these: only a one-character first label followed by a dot is refused.
  for (const ok of ['www.example.net', 'www.b.net', 'x', 'ab.c'] as const) assert.deepEqual(issues(dns('keepalived', ok)), [], ok);
  // Other monitors do not parse the name.
  assert.deepEqual(issues(dns('none', 'a.example.net')), []);
});

test('VIPs, nat_gateway and floating addresses: unspecified, 0/8, loopback, multicast, broadcast and /0 are refused', () => {
  const vip = (v: string) => inventory().replace('vip: 10.0.0.100', `vip: ${v}`);
  const why = (v: string, reason: string): [number, string] => [
    6,
    `"${v}" is ${reason}: a VIP or floating address must be a unicast address clients can reach`,
  ];
  assert.deepEqual(issues(vip('0.0.0.0')), [why('0.0.0.0', 'the unspecified address')]);
  assert.deepEqual(issues(vip('0.1.2.3')), [why('0.1.2.3', 'in 0.0.0.0/8 ("this network", never a destination)')]);
  assert.deepEqual(issues(vip('127.0.0.2')), [why('127.0.0.2', 'in 127.0.0.0/8 (loopback: never leaves the host)')]);
  assert.deepEqual(issues(vip('224.0.0.18')), [why('224.0.0.18', 'in 224.0.0.0/4 (multicast)')]);
  assert.deepEqual(issues(vip('239.255.255.255')), [why('239.255.255.255', 'in 224.0.0.0/4 (multicast)')]);
  assert.deepEqual(issues(vip('255.255.255.255')), [why('255.255.255.255', 'the limited broadcast address')]);
  assert.deepEqual(issues(vip('223.255.255.254')), []);
  const ha = (floating: string, natGateway = '') =>
    inventory({
      ha: `      ha:\n        virtual_router_id: 51\n        floating: [${floating}]\n${natGateway}`,
      director: '        director2:\n          dip: 10.0.0.14\n',
    });
  assert.deepEqual(issues(ha('10.0.1.2/24')), []);
  assert.deepEqual(issues(ha('10.0.1.2/0')), [
    [14, '"10.0.1.2/0" has prefix /0, which would claim every address as on-link: give the subnet\'s prefix length'],
  ]);
  assert.deepEqual(issues(ha('127.0.0.5/8')), [
    [14, '"127.0.0.5/8" is in 127.0.0.0/8 (loopback: never leaves the host): a VIP or floating address must be a unicast address clients can reach'],
  ]);
  const nat = ha('10.0.1.2/24', '        nat_gateway: 224.1.1.1\n').replace('forwarding: dr', 'forwarding: nat');
  assert.deepEqual(issues(nat), [[15, '"224.1.1.1" is in 224.0.0.0/4 (multicast): a VIP or floating address must be a unicast address clients can reach']]);
});
