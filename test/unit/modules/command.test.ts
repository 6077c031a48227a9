import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { command, planCommand, skipReason } from '../../../src/modules/command.js';
import { raw, sh } from '../../../src/core/shell.js';
import { ModuleError } from '../../../src/modules/errors.js';
import { planLocally, runSteps, tempDir, testContext } from '../helpers/local-host.js';

const ctx = testContext();

describe('command guards (pure)', () => {
  const o = { name: 'init db', cmd: raw('true'), creates: '/var/lib/db', unless: raw('test -f /x'), onlyIf: raw('true') };
  it('each guard can skip', () => {
    assert.equal(skipReason(o, { createsExists: true }), '/var/lib/db exists');
    assert.equal(skipReason({ ...o, creates: undefined }, { unlessCode: 0 }), 'unless guard passed');
    assert.equal(skipReason({ onlyIf: raw('false') }, { onlyIfCode: 1 }), 'onlyIf guard failed (exit 1)');
    assert.equal(skipReason({ removes: '/tmp/a' }, { removesExists: false }), '/tmp/a does not exist');
  });
  it('runs when no guard says done, without undo', () => {
    const [c] = planCommand(o, { createsExists: false, unlessCode: 1, onlyIfCode: 0 });
    assert.match(c!.summary, /^run init db \(no undo/);
    assert.equal(c!.undo, undefined);
    assert.equal(c!.reason, '/var/lib/db is absent; unless guard exited 1; onlyIf guard passed');
    assert.deepEqual(c!.apply, [{ kind: 'exec', script: raw('true') }]);
    assert.equal(planCommand({ name: 'x', cmd: raw('x') }, {})[0]!.reason, 'no guard: runs every time');
  });
  it('rejects an empty cmd', () => assert.throws(() => command({ name: 'x', cmd: raw(' ') }), ModuleError));
});

describe('command on this machine (real sh)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir()));
  after(() => cleanup());

  it('creates guard: runs once, then is ok', async () => {
    const marker = join(dir, 'done marker');
    const t = command({ name: 'make marker', cmd: sh`echo made > ${marker}`, creates: marker });
    const changes = await planLocally(t, ctx);
    assert.equal(changes.length, 1);
    await runSteps(changes[0]!.apply);
    assert.equal(await readFile(marker, 'utf8'), 'made\n');
    assert.deepEqual(await planLocally(t, ctx), []);
  });

  it('unless/onlyIf evaluate their exit codes; guard output does not confuse the parser', async () => {
    const f = join(dir, 'conf');
    await writeFile(f, 'enabled=1\n');
    const unless = command({ name: 'u', cmd: raw('false'), unless: sh`echo done=0; grep -q enabled=1 ${f}` });
    assert.deepEqual(await planLocally(unless, ctx), []);
    const onlyIf = command({ name: 'o', cmd: raw('true'), onlyIf: sh`grep -q enabled=2 ${f}` });
    assert.deepEqual(await planLocally(onlyIf, ctx), []);
    const runs = command({ name: 'r', cmd: raw('true'), onlyIf: sh`grep -q enabled=1 ${f}`, removes: f });
    assert.equal((await planLocally(runs, ctx)).length, 1);
  });
});
