// A survey's fast path prints as it goes: when it fails half-way, what it printed must not count,
// only the per-key scripts' lines after the AGAIN line. Run by this machine's /bin/sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { AGAIN, keyedLines, surveyScript } from '../../src/core/survey.js';
import { raw, sh } from '../../src/core/shell.js';

const run = (s: string) => execFileSync('/bin/sh', ['-c', s], { encoding: 'utf8' });
const one = (key: string, prefix: string) => sh`echo ${`${prefix}v=${key}-alone`}`;

test('a fast path that fails after printing is dropped; each key is read by its own script', () => {
  const s = surveyScript(['a', 'b'], one, () => raw('echo 0.v=partial; echo small= 0; return 1'));
  const out = run(s.text);
  assert.ok(out.includes(`${AGAIN}\n`));
  const other: string[] = [];
  const lines = keyedLines('test', out, ['a', 'b'], (l) => other.push(l) > 0);
  assert.deepEqual(lines, [['v=a-alone'], ['v=b-alone']]);
  assert.deepEqual(other, [], 'lines of the failed fast path never reach `other`');
});

test('a fast path that succeeds is taken as printed, without AGAIN', () => {
  const s = surveyScript(['a', 'b'], one, (all) => sh`for i in ${all}; do echo "$i.v=fast"; done`);
  const out = run(s.text);
  assert.ok(!out.includes(AGAIN));
  assert.deepEqual(keyedLines('test', out, ['a', 'b']), [['v=fast'], ['v=fast']]);
});

test('a fast path that fails before printing anything: the keys alone', () => {
  const s = surveyScript(['x'], one, () => raw('return 1'));
  assert.deepEqual(keyedLines('test', run(s.text), ['x']), [['v=x-alone']]);
});
