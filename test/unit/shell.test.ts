// Shell scripts are a type: values are quoted by construction, fragments are explicit, secrets are
// masked wherever a script is shown or journaled. Checked against a real /bin/sh.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Script, cmd, raw, secret, sh } from '../../src/core/shell.js';
import { fromJournalStep, toJournalStep } from '../../src/core/journal.js';
import { JournalError } from '../../src/core/errors.js';

const run = (s: Script) => execFileSync('/bin/sh', ['-c', s.text], { encoding: 'utf8' });

describe('sh tagged template', () => {
  it('quotes every interpolated value: hostile strings arrive as one argument, unchanged', () => {
    const hostile = ["it's", '$(touch /tmp/pwned)', '`id`', 'a b\tc\nd', '', '*', '-n', ';', '"\\'];
    for (const v of hostile) assert.equal(run(sh`printf '%s|' ${v}`), `${v}|`, JSON.stringify(v));
  });

  it('arrays are argument vectors, numbers are quoted values, Scripts compose unquoted', () => {
    assert.equal(run(sh`printf '%s|' ${['a b', 2, "c'd"]}`), "a b|2|c'd|");
    const inner = sh`printf '%s' ${'x y'}`;
    assert.equal(run(sh`${inner}; echo`), 'x y\n');
    assert.equal(cmd('echo', 'a;b').text, "echo 'a;b'");
    assert.equal(Script.join([raw('a'), raw('b')], ' && ').text, 'a && b');
  });

  it('raw inserts a deliberate fragment as it is', () => {
    assert.equal(run(sh`${raw('echo $((1+2))')}`), '3\n');
  });

  it('secret: quoted for the host, masked in display; a plain template shows the mask, never the value', () => {
    const s = sh`printf '%s' ${secret("p@ss'w0rd")}`;
    assert.equal(run(s), "p@ss'w0rd");
    assert.equal(s.display, "printf '%s' ***");
    assert.ok(!String(s).includes('p@ss'), String(s));
  });

  it('the journal keeps scripts replayable, but never a secret: a masked step refuses to replay', () => {
    const plain = toJournalStep({ kind: 'exec', script: sh`rm -f ${'/etc/a b'}` });
    assert.deepEqual(fromJournalStep(plain), { kind: 'exec', script: raw("rm -f '/etc/a b'") });
    const masked = toJournalStep({ kind: 'exec', script: sh`login ${secret('hunter22')}` });
    assert.ok(!JSON.stringify(masked).includes('hunter22'));
    assert.throws(() => fromJournalStep(masked), JournalError);
  });
});

describe('one error root', () => {
  it('every error kind carries its exit code; a host that answered but cannot be configured is not "unreachable"', async () => {
    const { ProvisionError, TaskError, UsageError, HostConfigError, exitCodeOf, EXIT } = await import('../../src/core/errors.js');
    const { InventoryError } = await import('../../src/inventory/errors.js');
    const { TransportError } = await import('../../src/ssh/errors.js');
    const { ModuleError } = await import('../../src/modules/errors.js');
    const { LabError } = await import('../../src/lab/errors.js');
    const { ConnectionError } = await import('../../src/core/provision-error.js');
    const { recapLine } = await import('../../src/ui/report.js');
    const inv = new InventoryError([{ file: '/x.yaml', line: 3, column: 1, path: ['all'], message: 'is bad' }]);
    const cases: [unknown, number][] = [
      [inv, EXIT.usage],
      [new UsageError('u'), EXIT.usage],
      [new TaskError('h', 't', 'm'), EXIT.failed],
      [new TransportError('auth', 'h', 'a:22', 'denied'), EXIT.failed],
      [new ModuleError('m', 'd'), EXIT.failed],
      [new LabError('l'), EXIT.failed],
      [new HostConfigError('h', 'no ARP method'), EXIT.failed],
      [new Error('bug'), EXIT.failed],
    ];
    for (const [e, code] of cases) {
      assert.equal(exitCodeOf(e), code, String(e));
      if (!(e instanceof Error && e.message === 'bug')) assert.ok(e instanceof ProvisionError, String(e));
    }
    assert.equal(inv.name, 'InventoryError');
    assert.ok(new TransportError('unreachable', 'h', 'a:22', 'refused') instanceof ConnectionError);
    assert.ok(!(new ModuleError('lvs', 'no ARP method') instanceof ConnectionError));
    const base = { host: 'rs1', tasks: [], recap: { ok: 0, changed: 0, failed: 0, skipped: 0 }, roundTrips: 0, durationMs: 0 };
    assert.match(recapLine({ ...base, error: 'no ARP method', errorKind: 'failed' }), /^FAILED: no ARP method/);
    assert.match(recapLine({ ...base, error: 'refused', errorKind: 'unreachable' }), /^UNREACHABLE: refused/);
  });
});

describe('Scripts across module copies', () => {
  it('a Script made by another copy of the module (a team playbook under the TypeScript loader) composes as a Script, not as a quoted string', async () => {
    const url = new URL('../../src/core/shell.js?second-copy', import.meta.url).href;
    const copy = (await import(url)) as typeof import('../../src/core/shell.js');
    assert.notEqual(copy.sh, sh, 'a distinct module instance');
    const theirs = copy.sh`echo ${'a b'}`;
    assert.ok(theirs instanceof Script);
    assert.equal(sh`${theirs}; echo ok`.text, "echo 'a b'; echo ok");
    assert.equal(run(sh`${theirs}`), 'a b\n');
  });
});
