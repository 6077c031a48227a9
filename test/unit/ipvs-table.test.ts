import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpvsSave, diffIpvs, renderIpvsSave, canonicalIpvs, desiredTable, IpvsParseError } from '../../src/lvs/ipvs-table.js';
import type { LvsSpec } from '../../src/lvs/types.js';
import { SEED_LVS } from './helpers/seed-lvs.js';

// Shaped exactly like ipvsadm 1.31's save printf (see lvs-spec.md section 2).
const SAVE_131 = `-A -t 192.168.0.218:80 -s rr
-a -t 192.168.0.218:80 -r 192.168.0.216:80 -i -w 1 --tun-type ipip
-a -t 192.168.0.218:80 -r 192.168.0.217:80 -i -w 1 --tun-type ipip
-A -u 10.0.0.100:53 -s wlc -p 300 -M 255.255.255.0
-a -u 10.0.0.100:53 -r 10.0.0.11:53 -m -w 3 -x 100 -y 10
-A -f 1 -s sh -b sh-port
-a -f 1 -r 10.0.0.12:0 -g -w 0
`;

function apply(table: ReturnType<typeof parseIpvsSave>, cmds: ReturnType<typeof diffIpvs>) {
  // Replays commands with ipvsadm's semantics on the data model: the diff must reach the goal.
  const t = structuredClone(table);
  for (const { args } of cmds) {
    const [op, flag, addr, ...rest] = args;
    const key = `${flag} ${addr}`;
    const idx = t.findIndex((s) => `${({ tcp: '-t', udp: '-u', sctp: '--sctp-service', fwmark: '-f' } as const)[s.proto]} ${s.address}` === key);
    const parsed = parseIpvsSave(
      `-A ${flag} ${addr} ${op === '-A' || op === '-E' ? rest.join(' ') : '-s wlc'}\n${op === '-a' || op === '-e' ? `-a ${flag} ${addr} ${rest.join(' ')}\n` : ''}`,
    )[0]!;
    if (op === '-A') {
      assert.equal(idx, -1, `-A of existing ${key}`);
      t.push(parsed);
    } else if (op === '-E') {
      assert.notEqual(idx, -1);
      t[idx] = { ...parsed, dests: t[idx]!.dests };
    } else if (op === '-D') {
      assert.notEqual(idx, -1);
      t.splice(idx, 1);
    } else {
      assert.notEqual(idx, -1, `${op} on missing service ${key}`);
      const s = t[idx]!;
      const r = rest[rest.indexOf('-r') + 1];
      const di = s.dests.findIndex((d) => d.address === r);
      if (op === '-a') {
        assert.equal(di, -1, `-a of existing ${r}`);
        s.dests.push(parsed.dests[0]!);
      } else if (op === '-e') {
        assert.notEqual(di, -1);
        s.dests[di] = parsed.dests[0]!;
      } else if (op === '-d') {
        assert.notEqual(di, -1, `-d of missing ${r}`);
        s.dests.splice(di, 1);
      }
    }
  }
  return t;
}

test('parses ipvsadm 1.31 save output: tcp/udp/fwmark, persistence, netmask, thresholds, tun-type stripped', () => {
  const t = parseIpvsSave(SAVE_131);
  assert.equal(t.length, 3);
  assert.deepEqual(t[0], {
    proto: 'tcp',
    address: '192.168.0.218:80',
    scheduler: 'rr',
    extra: '',
    dests: [
      { address: '192.168.0.216:80', method: 'i', weight: 1, upper: 0, lower: 0 },
      { address: '192.168.0.217:80', method: 'i', weight: 1, upper: 0, lower: 0 },
    ],
  });
  assert.equal(t[1]!.persistent, 300);
  assert.equal(t[1]!.netmask, '255.255.255.0');
  assert.deepEqual(t[1]!.dests[0], { address: '10.0.0.11:53', method: 'm', weight: 3, upper: 100, lower: 10 });
  assert.equal(t[2]!.proto, 'fwmark');
  assert.equal(t[2]!.extra, '-b sh-port');
  assert.equal(t[2]!.dests[0]!.weight, 0);
});

test('render then parse is the identity (for the comparison the engine does)', () => {
  const t = parseIpvsSave(SAVE_131);
  assert.equal(canonicalIpvs(parseIpvsSave(renderIpvsSave(t))), canonicalIpvs(t));
});

test('garbage is a typed error naming the line', () => {
  assert.throws(
    () => parseIpvsSave('-A -t 1.2.3.4:80 -s rr\n-X nonsense'),
    (e: unknown) => e instanceof IpvsParseError && e.lineNo === 2,
  );
  assert.throws(() => parseIpvsSave('-a -t 1.2.3.4:80 -r 1.1.1.1:80 -g -w 1'), /before its service/);
});

const seedLvs = SEED_LVS;

test('the seed inventory renders the seed rules with -i (tun), the -g inconsistency resolved', () => {
  assert.equal(
    renderIpvsSave(desiredTable(seedLvs)),
    ['-A -t 192.168.0.218:80 -s rr', '-a -t 192.168.0.218:80 -r 192.168.0.216:80 -i -w 1', '-a -t 192.168.0.218:80 -r 192.168.0.217:80 -i -w 1', ''].join('\n'),
  );
});

test('diff: empty -> seed is -A then two -a; equal tables give no commands', () => {
  const want = desiredTable(seedLvs);
  assert.deepEqual(
    diffIpvs([], want).map((c) => c.args.join(' ')),
    ['-A -t 192.168.0.218:80 -s rr', '-a -t 192.168.0.218:80 -r 192.168.0.216:80 -i -w 1', '-a -t 192.168.0.218:80 -r 192.168.0.217:80 -i -w 1'],
  );
  assert.deepEqual(diffIpvs(parseIpvsSave(renderIpvsSave(want)), want), []);
  assert.deepEqual(diffIpvs(parseIpvsSave(SAVE_131.split('\n').slice(0, 3).join('\n')), want), [], 'tun-type must not count as drift');
});

test('diff: the seed -g rules against a tun inventory edit both real servers, never -C', () => {
  const live = parseIpvsSave(
    '-A -t 192.168.0.218:80 -s rr\n-a -t 192.168.0.218:80 -r 192.168.0.216:80 -g -w 1\n-a -t 192.168.0.218:80 -r 192.168.0.217:80 -g -w 1\n',
  );
  const cmds = diffIpvs(live, desiredTable(seedLvs));
  assert.deepEqual(
    cmds.map((c) => c.args.join(' ')),
    ['-e -t 192.168.0.218:80 -r 192.168.0.216:80 -i -w 1', '-e -t 192.168.0.218:80 -r 192.168.0.217:80 -i -w 1'],
  );
  assert.ok(cmds.every((c) => c.args[0] !== '-C'));
});

test('diff: scheduler, persistence, weights, removed and added servers, removed and added services', () => {
  const live = parseIpvsSave(SAVE_131);
  const want = parseIpvsSave(`-A -t 192.168.0.218:80 -s wrr -p 600
-a -t 192.168.0.218:80 -r 192.168.0.216:80 -i -w 3
-a -t 192.168.0.218:80 -r 192.168.0.219:80 -i -w 1
-A -u 10.0.0.100:53 -s wlc
-a -u 10.0.0.100:53 -r 10.0.0.11:53 -m -w 3 -x 100 -y 10
-A --sctp-service 10.0.0.5:3868 -s rr
-a --sctp-service 10.0.0.5:3868 -r 10.0.0.6:3868 -g -w 1
`);
  const cmds = diffIpvs(live, want);
  const lines = cmds.map((c) => c.args.join(' '));
  assert.deepEqual(lines, [
    '-D -f 1',
    '-d -t 192.168.0.218:80 -r 192.168.0.217:80',
    '-E -t 192.168.0.218:80 -s wrr -p 600',
    '-e -t 192.168.0.218:80 -r 192.168.0.216:80 -i -w 3',
    '-a -t 192.168.0.218:80 -r 192.168.0.219:80 -i -w 1',
    '-E -u 10.0.0.100:53 -s wlc',
    '-A --sctp-service 10.0.0.5:3868 -s rr',
    '-a --sctp-service 10.0.0.5:3868 -r 10.0.0.6:3868 -g -w 1',
  ]);
  assert.equal(canonicalIpvs(apply(live, cmds)), canonicalIpvs(want));
  // And back again: the reverse diff restores the live table exactly (what rollback uses).
  const back = diffIpvs(want, live);
  assert.equal(canonicalIpvs(apply(want, back)), canonicalIpvs(live));
});

test('diff: all three forwarding methods map to -g/-i/-m', () => {
  for (const [fwd, flag] of [
    ['dr', '-g'],
    ['tun', '-i'],
    ['nat', '-m'],
  ] as const) {
    const spec: LvsSpec = { services: [{ ...seedLvs.services[0]!, forwarding: fwd }] };
    assert.match(renderIpvsSave(desiredTable(spec)), new RegExp(` ${flag} -w 1`));
  }
});
