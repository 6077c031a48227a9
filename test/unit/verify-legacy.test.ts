// verify on the seed's RHEL AS 3 real servers: no `ss` (netstat instead) and no arp_ignore (the
// VIP hidden by noarp). The real servers' check script runs for real in the local sh with a PATH
// of STAND-IN tools printing what those hosts print; the director is a canned connection.
import type { Script } from '../../src/core/shell.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection, ExecResult } from '../../src/core/types.js';
import { loadInventory } from '../../src/inventory/load.js';
import { verifyCluster } from '../../src/lvs/verify.js';
import { ROOT } from './helpers/renders.js';
import { sh } from './helpers/local-host.js';
import { execResult } from '../../src/core/host-output.js';

function fakeBin(rip: string, noarpList: string): string {
  const bin = mkdtempSync(join(tmpdir(), 'verify-rhel3-'));
  const tool = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  for (const t of ['awk', 'grep', 'sed']) symlinkSync(`/usr/bin/${t}`, join(bin, t));
  // A 2.4 kernel: no arp_ignore/arp_announce files; everything else read as usual.
  tool('cat', 'case "$1" in /proc/sys/net/ipv4/conf/*/arp_*) exit 1 ;; esac\nexec /bin/cat "$@"');
  tool(
    'ip',
    `[ "$1 $2 $3" = "-o -4 addr" ] || exit 1
echo "1: lo    inet 127.0.0.1/8 scope host lo"
echo "2: eth0    inet ${rip}/16 brd 192.168.255.255 scope global eth0"
echo "4: tunl0    inet 192.168.0.218/32 scope global tunl0"`,
  );
  tool(
    'netstat',
    `[ "$1" = -ltn ] || exit 1
echo "Active Internet connections (only servers)"
echo "Proto Recv-Q Send-Q Local Address               Foreign Address             State"
echo "tcp        0      0 0.0.0.0:22                  0.0.0.0:*                   LISTEN"
echo "tcp        0      0 0.0.0.0:80                  0.0.0.0:*                   LISTEN"`,
  );
  tool('noarpctl', `[ "$1" = list ] && printf '%s' '${noarpList}'`);
  return bin;
}

function conns(noarpList: string) {
  const bins: string[] = [];
  const director: Connection = {
    host: 'director',
    async exec(s: Script): Promise<ExecResult> {
      const script = s.text;
      if (script.includes('ipvsadm -S -n'))
        return execResult(
          0,
          '-A -t 192.168.0.218:80 -s rr\n-a -t 192.168.0.218:80 -r 192.168.0.216:80 -i -w 1\n-a -t 192.168.0.218:80 -r 192.168.0.217:80 -i -w 1\n',
          '',
        );
      if (script.includes('ip -o -4 addr show')) return execResult(0, '2: eth0    inet 192.168.0.218/32 scope global eth0:1\n', '');
      const m = /curl -s -m 3 'http:\/\/([0-9.]+):80\//.exec(script);
      if (m) return execResult(0, `page of ${m[1]}`, '');
      return execResult(1, '', 'unexpected');
    },
    async upload() {},
    async close() {},
  };
  const rs = (name: string, rip: string): Connection => {
    const bin = fakeBin(rip, noarpList);
    bins.push(bin);
    return { host: name, exec: (script) => sh(script.text, { env: { PATH: bin } }), async upload() {}, async close() {} };
  };
  const map: Record<string, Connection> = { director, rs1: rs('rs1', '192.168.0.216'), rs2: rs('rs2', '192.168.0.217') };
  return { connect: async (h: { name: string }) => map[h.name]!, cleanup: () => bins.forEach((b) => rmSync(b, { recursive: true, force: true })) };
}

test('RHEL AS 3 real servers: netstat shows the listener, noarp hides the VIP: no ARP problem', async () => {
  const c = conns('192.168.0.218 192.168.0.216\n');
  try {
    const r = await verifyCluster({ inventory: loadInventory(join(ROOT, 'inventory/seed.yaml')), requests: 2, connect: c.connect as never });
    for (const rs of ['rs1', 'rs2']) {
      const mine = r.checks.filter((x) => x.host === rs);
      const listen = mine.find((x) => x.check === 'service listening on :80')!;
      assert.ok(listen.ok, JSON.stringify(listen));
      assert.match(listen.detail, /0\.0\.0\.0:80 .*LISTEN/);
      const arp = mine.find((x) => x.check.startsWith('ARP'))!;
      assert.ok(arp.ok, JSON.stringify(arp));
      assert.match(arp.check, /noarp or arptables/);
      assert.ok(
        mine.every((x) => x.ok),
        JSON.stringify(mine.filter((x) => !x.ok)),
      );
    }
  } finally {
    c.cleanup();
  }
});

test('RHEL AS 3 real server without a noarp entry for the VIP: named as an ARP problem', async () => {
  const c = conns('10.9.9.9 192.168.0.216\n');
  try {
    const r = await verifyCluster({ inventory: loadInventory(join(ROOT, 'inventory/seed.yaml')), requests: 2, connect: c.connect as never });
    const arp = r.checks.find((x) => x.host === 'rs1' && x.check.startsWith('ARP'))!;
    assert.equal(arp.ok, false);
    assert.match(arp.cause ?? '', /ARP problem on rs1 \(no arp_ignore in its kernel and no noarp\/arptables entry/);
  } finally {
    c.cleanup();
  }
});
