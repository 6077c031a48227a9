// Pure parts of the transport: command wrapping, the start-line filter, exit codes, the channel semaphore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { raw } from '../../src/core/shell.js';
import { planCommand, StartFilter, type StartEvent } from '../../src/ssh/become.js';
import { exitCode } from '../../src/ssh/connection.js';
import { Semaphore } from '../../src/ssh/semaphore.js';

test('planned commands run the script under /bin/sh, print the start line first, quote everything', () => {
  const script = raw(`echo "it's" $HOME`);
  const p = planCommand(script, false, false);
  assert.equal(p.sudo, false);
  // Run the wrapped command locally through a shell, as sshd would.
  const out = execFileSync('sh', ['-c', p.command], { encoding: 'utf8', env: { HOME: '/h', PATH: process.env.PATH }, stdio: ['pipe', 'pipe', 'pipe'] });
  assert.equal(out, "it's /h\n");
  const nopw = planCommand(script, true, false);
  assert.match(nopw.command, /^sudo -n -H \/bin\/sh -c '/);
  const pw = planCommand(script, true, true);
  assert.match(pw.command, /^sudo -S -p '\[provision-sudo-[0-9a-f]{16}\] ' -H \/bin\/sh -c '/);
  assert.notEqual(planCommand(script, false, false).marker, p.marker, 'markers are random per command');
});

test('StartFilter strips prompts and the start line even when split across chunks', () => {
  const events: StartEvent[] = [];
  const f = new StartFilter('MARK', '[PROMPT] ', (e) => events.push(e));
  let kept = '';
  for (const chunk of ['[PRO', 'MPT] ', 'Sorry, try again.\n[PROMPT] ', 'MA', 'RK 4242', '\nreal stderr\n']) kept += f.push(chunk);
  kept += f.push('more\n');
  assert.deepEqual(events, ['prompt', 'prompt', 'started']);
  assert.equal(f.pid, 4242);
  assert.equal(kept, 'Sorry, try again.\nreal stderr\nmore\n');
  assert.equal(f.flush(), '');
});

test('StartFilter holds what sudo said when the script never starts', () => {
  const f = new StartFilter('MARK', undefined, () => assert.fail('no events expected'));
  assert.equal(f.push('sudo: a password is required\n'), '');
  assert.equal(f.hasStarted, false);
  assert.equal(f.flush(), 'sudo: a password is required\n');
});

test('exit codes: plain, signals as 128+n with or without the SIG prefix, unknown signal 255', () => {
  assert.equal(exitCode(0, undefined), 0);
  assert.equal(exitCode(7, undefined), 7);
  assert.equal(exitCode(null, 'SIGKILL'), 137);
  assert.equal(exitCode(null, 'TERM'), 143);
  assert.equal(exitCode(null, 'SIGNOPE'), 255);
  assert.equal(exitCode(null, undefined), undefined);
});

test('Semaphore never exceeds its size and hands slots over in order', async () => {
  const sem = new Semaphore(3);
  let active = 0;
  let max = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 10 }, async (_, i) => {
      const release = await sem.acquire();
      active++;
      max = Math.max(max, active);
      order.push(i);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      release();
      release(); // double release is harmless
    }),
  );
  assert.equal(max, 3);
  assert.equal(sem.peak, 3);
  assert.equal(sem.inUse, 0);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.throws(() => new Semaphore(0), RangeError);
});
