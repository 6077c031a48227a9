// verify's traffic judgement: no "ok" for a spread when no request succeeded, and a persistent
// service judged as "one client stays on one real server" (not as an rr spread).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTraffic, type Check } from '../../src/lvs/verify.js';
import type { Connection } from '../../src/core/types.js';
import type { VirtualServiceSpec } from '../../src/lvs/types.js';
import { labService } from './helpers/lab-service.js';
import { execResult } from '../../src/core/host-output.js';

const svc = (over: Partial<VirtualServiceSpec> = {}): VirtualServiceSpec => labService(80, over);

/** A client whose curl prints the given bodies (null = failed request) in curl's -w framing. */
function client(answers: (string | null)[]): Connection {
  return {
    host: 'client',
    async exec(script) {
      const mark = /__verify_[0-9a-f]+/.exec(script.text)![0];
      return execResult(answers.includes(null) ? 28 : 0, answers.map((a) => `${a ?? ''}\n${mark} ${a === null ? '000' : '200'}\n`).join(''), '');
    },
    async upload() {},
    async close() {},
  };
}

async function judge(s: VirtualServiceSpec, answers: (string | null)[]) {
  const checks: Check[] = [];
  const bodies = new Map([
    ['Hello from rs1', 'rs1'],
    ['Hello from rs2', 'rs2'],
  ]);
  await checkTraffic(s, client(answers), 'client', answers.length, bodies, new Set(), {}, (host, check, ok, detail, cause) => {
    checks.push({ host, check, ok, detail, ...(ok ? {} : { cause }) });
  });
  return checks;
}

test('an even rr spread is ok; a spread with every request failed is never ok', async () => {
  const good = await judge(
    svc(),
    Array.from({ length: 4 }, (_, i) => `Hello from rs${(i % 2) + 1}`),
  );
  assert.deepEqual(
    good.map((c) => c.ok),
    [true, true],
  );
  const none = await judge(svc(), [null, null, null, null]);
  assert.deepEqual(
    none.map((c) => c.ok),
    [false, false],
  );
  assert.match(none[1]!.cause!, /no request succeeded/);
});

test('persistence: one client on one real server is ok; answered by two is broken', async () => {
  const sticky = await judge(svc({ persistence: 300 }), Array(6).fill('Hello from rs2'));
  assert.deepEqual(
    sticky.map((c) => [c.check, c.ok]),
    [
      ['6 requests to 10.0.0.18:80 answered', true],
      ['persistence 300s: one client stays on one real server', true],
    ],
  );
  const broken = await judge(svc({ persistence: 300 }), ['Hello from rs1', 'Hello from rs2']);
  assert.equal(broken[1]!.ok, false);
  assert.match(broken[1]!.cause!, /persistence broken: one client was answered by rs1, rs2/);
});
