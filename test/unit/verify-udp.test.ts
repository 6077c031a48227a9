// verify's udp probe: the DNS query program against the DNS stand-in on loopback (real sockets),
// and the judgement of a udp service's spread from scripted answers and IPVS counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { AMBIGUOUS, checkTraffic, parseIpvsConns, replyKey, type Check } from '../../src/lvs/verify.js';
import { dnsQueries, parseDnsReplies } from '../../src/lvs/dns-probe.js';
import { dnsStandIn } from '../helpers/dns-stand-in.js';
import { labService } from './helpers/lab-service.js';
import type { Connection } from '../../src/core/types.js';
import type { VirtualServiceSpec } from '../../src/lvs/types.js';
import { execResult } from '../../src/core/host-output.js';

test('the DNS query program: answers from the stand-in on loopback, failures when nothing listens', async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = spawn('sh', ['-c', dnsStandIn(port, '10.9.8.7', ['127.0.0.1']).text], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
      server.on('exit', (code) => reject(new Error(`stand-in exited ${code}`)));
    });
    const r = spawnSync('sh', ['-c', dnsQueries('127.0.0.1', port, 'lab.example', 3, 2).text], { encoding: 'utf8' });
    assert.deepEqual(parseDnsReplies(r.stdout), ['10.9.8.7', '10.9.8.7', '10.9.8.7'], r.stdout + r.stderr);
  } finally {
    server.kill();
  }
  await new Promise((r) => server.once('close', r));
  const none = spawnSync('sh', ['-c', dnsQueries('127.0.0.1', port, 'lab.example', 2, 1).text], { encoding: 'utf8' });
  assert.deepEqual(parseDnsReplies(none.stdout), [undefined, undefined], none.stdout);
  assert.match(none.stdout, /^dns fail /m);
});

const dns = (over: Partial<VirtualServiceSpec> = {}): VirtualServiceSpec =>
  labService(53, {
    name: 'dns',
    protocol: 'udp',
    forwarding: 'dr',
    health: { monitor: 'none', kind: 'dns', url: '/', query: 'lab.example', interval: 5, timeout: 2 },
    ...over,
  });

/** A client whose query program prints these answers (null = a failed query); records its scripts. */
function client(answers: (string | null)[], scripts: string[] = []): Connection {
  return {
    host: 'client',
    async exec(script) {
      scripts.push(script.text);
      return execResult(0, answers.map((a) => (a === null ? 'dns fail timeout\n' : `dns ok ${a}\n`)).join(''), '');
    },
    async upload() {},
    async close() {},
  };
}

async function judge(s: VirtualServiceSpec, answers: (string | null)[], bodies: Map<string, string>, conns?: Map<string, number>[]) {
  const checks: Check[] = [];
  const counts: Record<string, Record<string, number>> = {};
  const scripts: string[] = [];
  const ipvsConns = conns ? async () => conns.shift()! : undefined;
  await checkTraffic(
    s,
    client(answers, scripts),
    'client',
    answers.length,
    bodies,
    new Set(),
    counts,
    (host, check, ok, detail, cause) => {
      checks.push({ host, check, ok, detail, ...(ok ? {} : { cause }) });
    },
    ipvsConns,
  );
  return { checks, counts: counts[s.name], scripts };
}

const named = () =>
  new Map([
    [replyKey(dns(), '10.0.0.16'), 'rs1'],
    [replyKey(dns(), '10.0.0.17'), 'rs2'],
  ]);

test('a udp service is probed with its DNS query (not HTTP); answers that name the real server give the spread', async () => {
  const good = await judge(
    dns(),
    Array.from({ length: 6 }, (_, i) => `10.0.0.1${6 + (i % 2)}`),
    named(),
  );
  assert.match(good.scripts[0]!, /^perl -e /m);
  assert.match(good.scripts[0]!, / '?10\.0\.0\.18'? '?53'? '?lab\.example'? '?6'? /);
  assert.doesNotMatch(good.scripts[0]!, /curl/);
  assert.deepEqual(good.counts, { rs1: 3, rs2: 3 });
  assert.deepEqual(
    good.checks.map((c) => [c.check, c.ok]),
    [
      ['6 DNS queries (A lab.example) to 10.0.0.18:53/udp answered', true],
      ['spread matches rr with weights 1:1', true],
    ],
  );
  // All on rs1: unbalanced for rr.
  const lopsided = await judge(dns(), Array(6).fill('10.0.0.16'), named());
  assert.deepEqual(
    lopsided.checks.map((c) => c.ok),
    [true, false],
  );
  assert.match(lopsided.checks[1]!.cause!, /unbalanced: rs1: 6 .*rs2: 0/);
});

test('a udp service with no answer is never ok, whatever the counters say', async () => {
  const none = await judge(dns(), [null, null, null, null], named(), [new Map(), new Map([['10.0.0.16:53', 2]])]);
  assert.deepEqual(
    none.checks.map((c) => [c.ok, c.cause]),
    [
      [false, 'requests failed: replies do not reach the client (ARP, rp_filter, NAT gateway or a missing rule; see the checks above)'],
      [false, 'no request succeeded: the spread cannot be judged'],
    ],
  );
});

test("answers alike (a real DNS server): the spread comes from the directors' IPVS counters", async () => {
  const alike = new Map([[replyKey(dns(), '192.0.2.1'), AMBIGUOUS]]);
  const before = new Map([
    ['10.0.0.16:53', 10],
    ['10.0.0.17:53', 10],
  ]);
  const after = new Map([
    ['10.0.0.16:53', 13],
    ['10.0.0.17:53', 13],
  ]);
  const r = await judge(dns(), Array(6).fill('192.0.2.1'), alike, [before, after]);
  assert.deepEqual(r.counts, { rs1: 3, rs2: 3 });
  assert.deepEqual(
    r.checks.map((c) => c.ok),
    [true, true],
  );
  assert.match(r.checks[0]!.check, /spread from the directors' IPVS counters/);
  // Without counters, alike answers name no real server: unknown, not ok.
  const blind = await judge(dns(), Array(6).fill('192.0.2.1'), alike);
  assert.deepEqual(blind.counts, { unknown: 6 });
  assert.equal(blind.checks[1]!.ok, false);
});

test('a persistent udp service: one client on one real server is ok, two is broken', async () => {
  const p = dns({ persistence: 300 });
  const one = await judge(p, Array(4).fill('10.0.0.17'), named());
  assert.deepEqual(
    one.checks.map((c) => [c.check, c.ok]),
    [
      ['4 DNS queries (A lab.example) to 10.0.0.18:53/udp answered', true],
      ['persistence 300s: one client stays on one real server', true],
    ],
  );
  const two = await judge(p, ['10.0.0.16', '10.0.0.17', '10.0.0.16', '10.0.0.17'], named());
  assert.equal(two.checks[1]!.ok, false);
});

test("parseIpvsConns reads ipvsadm -Ln --stats --exact's real-server Conns", () => {
  const out = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
UDP  10.0.0.18:53                       12       12        0      696        0
  -> 10.0.0.16:53                        7        7        0      406        0
  -> 10.0.0.17:53                        5        5        0      290        0
`;
  assert.deepEqual(
    [...parseIpvsConns(out)],
    [
      ['10.0.0.16:53', 7],
      ['10.0.0.17:53', 5],
    ],
  );
});
