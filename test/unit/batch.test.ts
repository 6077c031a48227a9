// The probe batch is executed by a real /bin/sh here: framing must survive any output.
import { raw } from '../../src/core/shell.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { batchProbes } from '../../src/core/batch.js';

function runSh(script: string): string {
  return execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
}

test('each probe gets exactly its own stdout and exit code', () => {
  const probes = ['echo hello', 'printf "no newline"', 'true', 'echo out; echo err >&2; exit 7', "printf 'a\\n\\nb\\n\\n'", 'exit 0'];
  const b = batchProbes(probes.map(raw));
  const outs = b.split(runSh(b.script.text));
  assert.deepEqual(outs, [
    { stdout: 'hello\n', code: 0 },
    { stdout: 'no newline', code: 0 },
    { stdout: '', code: 0 },
    { stdout: 'out\n', code: 7 },
    { stdout: 'a\n\nb\n\n', code: 0 },
    { stdout: '', code: 0 },
  ]);
});

test('a probe printing a fake frame marker cannot confuse the split', () => {
  const b = batchProbes([raw('echo "__provision_deadbeef 1 begin"; echo "x 0 end 0"'), raw('echo second')]);
  const outs = b.split(runSh(b.script.text));
  assert.equal(outs[0]!.stdout, '__provision_deadbeef 1 begin\nx 0 end 0\n');
  assert.equal(outs[1]!.stdout, 'second\n');
});

test('a probe reading stdin gets EOF, not the rest of the batch', () => {
  const b = batchProbes([raw('cat; echo done'), raw('echo next')]);
  const outs = b.split(runSh(b.script.text));
  assert.deepEqual(
    outs.map((o) => o.stdout),
    ['done\n', 'next\n'],
  );
});

test('a truncated output is an error, not a silent empty state', () => {
  const b = batchProbes([raw('echo a'), raw('echo b')]);
  const full = runSh(b.script.text);
  assert.throws(() => b.split(full.slice(0, full.indexOf('echo') > 0 ? 10 : 30)), /no output frame|not closed/);
});

test('a script asked twice in one batch runs once; each asker gets its output', () => {
  const dir = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
  // Each run appends a line: the count tells how many times the script ran.
  const count = raw(`echo run >> ${dir}/runs; wc -l < ${dir}/runs`);
  const b = batchProbes([count, raw('echo other'), count]);
  assert.equal(b.script.text.split(`${dir}/runs;`).length - 1, 1, 'the script appears once in the batch');
  const outs = b.split(runSh(b.script.text));
  assert.deepEqual(
    outs.map((o) => [o.stdout.trim(), o.code]),
    [
      ['1', 0],
      ['other', 0],
      ['1', 0],
    ],
  );
  execFileSync('rm', ['-rf', dir]);
});

test('inline scripts run in the batch shell itself, after every subshell frame; outputs stay in item order', () => {
  // `x` set by an inline script reaches the next inline one (same shell, no subshell) but never a
  // plain frame, which runs first whatever its place among the items.
  const b = batchProbes([
    { script: raw('x=set-inline; echo first'), inline: true },
    raw('echo "plain sees ${x-nothing}"; exit 4'),
    { script: raw('echo "probe sees $x"'), inline: true },
    raw('y=set-plain; echo plain2'),
    { script: raw('echo "last sees ${y-nothing}"; false'), inline: true },
  ]);
  const text = b.script.text;
  assert.ok(text.indexOf('exit 4') < text.indexOf('x=set-inline'), 'plain frames come first');
  assert.equal(text.match(/^\( /gm)?.length, 2, 'a subshell for each plain frame only');
  const outs = b.split(runSh(text));
  assert.deepEqual(outs, [
    { stdout: 'first\n', code: 0 },
    { stdout: 'plain sees nothing\n', code: 4 },
    { stdout: 'probe sees set-inline\n', code: 0 },
    { stdout: 'plain2\n', code: 0 },
    { stdout: 'last sees nothing\n', code: 1 },
  ]);
});

test('an inline script reads EOF on stdin and its stderr is dropped, as in a subshell frame', () => {
  const b = batchProbes([{ script: raw('cat; echo oops >&2; echo done'), inline: true }, raw('echo next')]);
  const outs = b.split(runSh(b.script.text));
  assert.deepEqual(
    outs.map((o) => o.stdout),
    ['done\n', 'next\n'],
  );
});
