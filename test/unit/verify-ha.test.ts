// verify on two directors (lvs.ha), against scripted hosts: one master holds the VIP, the client's
// ARP sees one MAC, sync daemons pair up with the inventory's id, the backup holds the master's
// connections. Each fault (split brain, wrong sync id, nothing synced) fails with its cause.
import type { Script } from '../../src/core/shell.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInventory } from '../../src/inventory/load.js';
import { verifyCluster } from '../../src/lvs/verify.js';
import { desiredTable, renderIpvsSave } from '../../src/lvs/ipvs-table.js';
import type { Connection, ExecResult } from '../../src/core/types.js';
import { execResult } from '../../src/core/host-output.js';

const INVENTORY = `all:
  vars:
    lvs:
      ha: {virtual_router_id: 51}
      services:
        - name: web
          vip: 10.0.0.18
          port: 80
          scheduler: rr
          forwarding: tun
          real_servers: [{host: rs1}, {host: rs2}]
  children:
    clients:
      hosts:
        client: {lan_address: 10.0.0.10, lan_interface: eth1}
    directors:
      hosts:
        director: {dip: 10.0.0.15, lan_interface: eth1}
        director2: {dip: 10.0.0.13, lan_interface: eth1}
    real_servers:
      hosts:
        rs1: {rip: 10.0.0.16}
        rs2: {rip: 10.0.0.17}
`;

interface World {
  vipOn: string[];
  syncId: Record<string, number>;
  /** Connection lines (source virtual destination) per director, once verify's requests were sent. */
  conns: Record<string, string[]>;
  /** Lines already there before them (e.g. made before the sync daemons ran: never synced). */
  old?: Record<string, string[]>;
}

function fakeConnect(world: World, table: string) {
  const macs: Record<string, string> = { director: '52:54:00:00:01:02', director2: '52:54:00:00:01:03' };
  let sent = false;
  return async (h: { name: string }): Promise<Connection> => ({
    host: h.name,
    upload: async () => {},
    close: async () => {},
    async exec(s: Script): Promise<ExecResult> {
      const script = s.text;
      const ok = (stdout: string) => execResult(0, stdout, '');
      const name = h.name;
      if (script.includes('ipvsadm -S -n')) return ok(table);
      if (script.includes('ip -o -4 addr show') && name.startsWith('director')) {
        return ok(
          `2: eth1    inet 10.0.0.15/24 brd 10.0.0.255 scope global eth1\n${world.vipOn.includes(name) ? '2: eth1    inet 10.0.0.18/32 scope global eth1\n' : ''}`,
        );
      }
      if (script.includes('ipvsadm -L --daemon')) {
        const role = world.vipOn[0] === name ? 'master' : 'backup';
        return ok(`${role} sync daemon (mcast=eth1, syncid=${world.syncId[name]})\n`);
      }
      if (script.includes('ipvsadm -Lnc')) {
        return ok(
          `IPVS connection entries\npro expire state       source             virtual            destination\n${[...(world.old?.[name] ?? []), ...(sent ? (world.conns[name] ?? []) : [])].map((c) => `TCP 01:59  TIME_WAIT   ${c}`).join('\n')}\n`,
        );
      }
      if (script.includes('curl -s -m 3 http://10.0.0.16')) return ok('rs1');
      if (script.includes('curl -s -m 3 http://10.0.0.17')) return ok('rs2');
      if (script.includes('/sys/class/net/')) return ok(`${macs[name]}\n`);
      if (script.includes('arping')) return ok(world.vipOn.map((d) => `Unicast reply from 10.0.0.18 [${macs[d]!.toUpperCase()}]  0.6ms\n`).join(''));
      if (script.includes('__verify_')) {
        sent = true;
        const mark = /\n(__verify_[0-9a-f]+) %\{http_code\}/.exec(script)![1]!;
        const n = script.split('http://10.0.0.18:80/').length - 1;
        return ok(Array.from({ length: n }, (_, i) => `${i % 2 ? 'rs2' : 'rs1'}\n${mark} 200\n`).join(''));
      }
      if (script.includes('arp_ignore')) {
        return ok(
          'all/arp_ignore=1\nall/arp_announce=2\nall/rp_filter=0\ntunl0/rp_filter=0\n--addr\n5: tunl0    inet 10.0.0.18/32 scope global tunl0\n--listen0\nLISTEN 0 5 *:80 *:*\n',
        );
      }
      return execResult(1, '', `unexpected script on ${name}: ${script.slice(0, 80)}`);
    },
  });
}

async function run(world: World) {
  const file = join(mkdtempSync(join(tmpdir(), 'provision-verify-ha-')), 'inventory.yaml');
  writeFileSync(file, INVENTORY);
  const inventory = loadInventory(file);
  const table = renderIpvsSave(desiredTable(inventory.lvs!));
  return verifyCluster({ inventory, requests: 4, connect: fakeConnect(world, table) as never });
}

const conns = ['10.0.0.10:40001 10.0.0.18:80 10.0.0.16:80', '10.0.0.10:40002 10.0.0.18:80 10.0.0.17:80'];
const healthy = (): World => ({ vipOn: ['director'], syncId: { director: 51, director2: 51 }, conns: { director: [...conns], director2: [...conns] } });
const failed = (r: Awaited<ReturnType<typeof run>>) => r.checks.filter((c) => !c.ok).map((c) => `${c.host}: ${c.check}: ${c.cause}`);

test("verify lvs.ha: one master, one MAC, paired sync daemons, the backup holds the master's connections", async () => {
  const r = await run(healthy());
  assert.deepEqual(failed(r), []);
  const names = r.checks.map((c) => `${c.host}: ${c.check}: ${c.detail}`);
  assert.ok(names.includes('directors: 10.0.0.18 held by exactly one director: on director'), names.join('\n'));
  assert.ok(names.includes('director: master sync daemon with syncid 51: master sync daemon (mcast=eth1, syncid=51)'));
  assert.ok(names.includes('director2: backup sync daemon with syncid 51: backup sync daemon (mcast=eth1, syncid=51)'));
  assert.ok(names.includes("director2: holds the master's connections (ipvsadm -Lnc): 2 of director's 2 client connection(s)"), names.join('\n'));
  assert.ok(names.some((n) => n.startsWith('client: ARP for 10.0.0.18 answered by the director only: replies from 52:54:00:00:01:02 ')));
});

test('verify lvs.ha: split brain, a wrong sync id and an empty backup table are each named', async () => {
  const split = await run({ ...healthy(), vipOn: ['director', 'director2'] });
  assert.ok(
    failed(split).some((f) => /split brain: director and director2 both hold 10\.0\.0\.18/.test(f)),
    failed(split).join('\n'),
  );
  assert.ok(
    failed(split).some((f) => /^client: ARP for 10\.0\.0\.18 answered by the director only: ARP problem/.test(f)),
    'two MACs answer: the client sees both',
  );
  const id = await run({ ...healthy(), syncId: { director: 51, director2: 7 } });
  assert.deepEqual(failed(id), ['director2: backup sync daemon with syncid 51: sync daemon id 7 differs from 51']);
  // Connections older than verify's requests that the backup never got (made before the sync
  // daemons ran): not asked for; verify's own are, and are there.
  const older = ['10.0.0.10:39001 10.0.0.18:80 10.0.0.16:80', '10.0.0.10:39002 10.0.0.18:80 10.0.0.17:80', '10.0.0.10:39003 10.0.0.18:80 10.0.0.16:80'];
  assert.deepEqual(failed(await run({ ...healthy(), old: { director: older } })), []);
  const none = await run({ ...healthy(), conns: { director: [...conns], director2: [] } });
  assert.deepEqual(failed(none), ["director2: holds the master's connections (ipvsadm -Lnc): sync broken: director2 holds 0 of 2 connections"]);
  const nobody = await run({ ...healthy(), vipOn: [] });
  assert.ok(
    failed(nobody).some((f) => /VIP missing on every director/.test(f)),
    failed(nobody).join('\n'),
  );
});
